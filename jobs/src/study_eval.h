#pragma once
// `xomni eval`: an X-Omni checkpoint scored on prompt files (the JSONL `xomni data prompts`
// writes, world/prompt_file.h), with the paper's metric definitions:
//   scene  sampled at every CFG scale (mm-eval's sampling, mm_eval_parts.h), decoded, and checked
//          with GenEval's rules by the scene checker: pass rate overall, per category, and over
//          the prompts no --seen dataset has as a caption
//   text   the same sampling, read by Tesseract through the `ocr` reward in reward worker
//          processes: OneIG-Bench's ED, CR, WAC and text score (short bucket) and LongText-Bench
//          accuracy (long bucket)
//   vqa    the question about the image the prompt's metadata names (a world generator and seed,
//          or a file), answered greedily: exact-match accuracy per question type and per set
// A malformed line is reported (file, line, reason) and the rest of the file is still scored.
// results.json's schema is in docs/MODEL.md; `xomni report study` reads it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xomni::cli {

struct StudyEvalOptions {
  std::string checkpoint;                 // an X-Omni training checkpoint
  std::vector<std::string> prompt_files;  // JSONL prompt files
  std::string out_dir;                    // results.json, samples/, understanding.jsonl
  std::vector<double> cfg = {1.0};        // guidance scales the generation prompts run at
  int64_t count = 0;                      // prompts a file, spread evenly over it (0: all)
  int64_t batch = 16;                     // prompts sampled together (of equal token length)
  int64_t decoder_steps = 0;              // 0: the decoder's default
  uint64_t seed = 0;
  std::vector<std::string> seen;  // image datasets whose captions count as seen in training
  std::string multimodal;         // another multimodal.json ("" for the checkpoint's own)
  std::string decoder;            // a decoder checkpoint ("" for multimodal.json's)
  int workers = 2;                // OCR reward worker processes
  std::string worker_exe;         // the xomni executable for the workers ("" = this process's)
};

// Scores every prompt file and writes out_dir; returns results.json's content.
nlohmann::json evaluate_prompt_files(const StudyEvalOptions& options);
// The printed table: one row per set and CFG scale with its score.
std::string results_table(const nlohmann::json& results);

}  // namespace xomni::cli
