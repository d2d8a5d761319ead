#pragma once
// The unified X-Omni model measured on held-out scenes (docs/MODEL.md's table):
//   generation     each scene's prompt -> image codes (the paper's sampling: temperature 1,
//                  min-p 0.03, no CFG unless asked; batched, KV cache) -> the codec's decoder ->
//                  the scene checker with GenEval's rules against the scene's own metadata:
//                  pass rate overall and per category, and the sampling throughput
//   understanding  every question of each scene answered greedily from the scene's image codes
//                  (exact match after trimming and lower-casing): accuracy overall and per
//                  question type
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace xomni::cli {

struct MmEvalOptions {
  std::string checkpoint;     // an X-Omni training checkpoint (its data's multimodal.json names the
                              // text tokenizer, the image tokenizer and the grids)
  std::string multimodal;     // another multimodal.json ("" for the checkpoint's own)
  std::string decoder;        // a decoder checkpoint ("" for multimodal.json's)
  std::string dataset;        // held-out image dataset (its scenes are evaluated)
  int64_t count = 200;        // scenes
  int64_t batch = 16;         // prompts sampled together (of equal token length)
  int64_t decoder_steps = 0;  // 0: the decoder's default
  double cfg = 1.0;
  uint64_t seed = 0;
  bool generation = true, understanding = true;
  // generations.jsonl (each scene's prompt, category, pass and codes) and generations.png (the
  // first 16 images); the command adds results.json
  std::string out_dir;
};

nlohmann::json evaluate_mm_model(const MmEvalOptions& options);

}  // namespace xomni::cli
