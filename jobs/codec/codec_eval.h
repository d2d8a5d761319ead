#pragma once
// The codec's measured quality on held-out images (docs/CODEC.md's table):
//   reconstruction  encode -> decode at each sampler step count: PSNR; at the largest, the scene
//                   checker's GenEval pass rate against each scene's own metadata, and (with
//                   OCR) Tesseract's word accuracy on text images, reconstructed vs original
//   codebook        distinct codes used and the perplexity of the code histogram
//   code_information how much of each scene patch's objectness, colour and shape its code id
//                   determines (code_information.h)
//   semantics       the vq stage's LM answering the VQA pairs from the image codes (greedy,
//                   exact match), and caption -> image retrieval top-1 with the contrastive towers
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xomni::codec {

struct CodecEvalOptions {
  std::string tokenizer;  // a vq checkpoint (its LM answers the VQA); a siglip one skips VQA
  std::string decoder;    // a decoder checkpoint ("" skips reconstruction)
  std::string dataset;    // held-out image dataset
  int64_t count = 200;    // samples for reconstruction, codebook and VQA
  int64_t retrieval_count = 500;
  std::vector<int64_t> steps = {1, 4, 16};
  int64_t image_size = 0;   // resize the short edge to this (0: as stored)
  uint64_t seed = 0;        // decoder noise
  std::string out_dir;      // reconstructions of text images (for OCR) and samples go here
  std::string ocr_command;  // runs OCR on out_dir/text in another process ("" skips OCR)
};

nlohmann::json evaluate_codec(const CodecEvalOptions& options);

// VQA scoring shared by the codec's and the unified model's evaluations: an answer counts when it
// equals the reference after trimming and lower-casing both, and questions are grouped by their
// first two words ("How many", "What colour", "Is there", ...).
std::string trim_lower(std::string s);
std::string question_type(const std::string& question);

// Word accuracy (OneIG-Bench's WAC, through the `ocr` reward) of the originals and the
// reconstructions listed in <dir>/text/pairs.jsonl; run with OMP_THREAD_LIMIT=1.
nlohmann::json ocr_word_accuracy(const std::string& dir);

}  // namespace xomni::codec
