#pragma once
// What the X-Omni evaluations (`xomni mm-eval` on held-out scenes, `xomni eval` on prompt files)
// share: the checkpoint with its multimodal.json and tokenizers, the paper's image sampling over
// a list of prompts, greedy answers to VQA questions, and pass/total counters.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "codec/codec_components.h"
#include "mm_model.h"
#include "xomni/core/io/image.h"

namespace xomni::cli {

using Grid = std::pair<int64_t, int64_t>;  // a token grid, {h, w}

// An X-Omni checkpoint ready to sample: the backbone, its data's multimodal.json, the text and
// image tokenizers, and the first trained grid (h x w, the most common one), the default.
struct EvalModel {
  MmModel model;
  MultimodalInfo info;
  std::unique_ptr<plugins::TextTokenizer> tok;
  codec::LoadedTokenizer image_tok;
  int64_t h = 0, w = 0;
  Grid grid_for(double aspect) const { return nearest_grid(info.grids, aspect); }
};
// `multimodal` "" reads the checkpoint's own multimodal.json.
EvalModel load_eval_model(const std::string& checkpoint, const std::string& multimodal);
// `path` "" takes multimodal.json's decoder (an error names --decoder when it has none).
codec::LoadedDecoder load_eval_decoder(const EvalModel& m, const std::string& path);

struct ImageSetOptions {
  int64_t batch = 16;         // prompts sampled together (of equal token length)
  int64_t decoder_steps = 0;  // 0: the decoder's default
  double cfg = 1.0;           // guidance scale (1: off); the image prefix is the unconditional
  uint64_t seed = 0;
};
struct ImageSet {
  std::vector<Image> images;                // one per prompt, in the prompts' order
  std::vector<std::vector<int64_t>> codes;  // its h*w codes, k in [0, K)
  std::vector<Grid> grids;                  // the grid of each
  double sample_s = 0, decode_s = 0;        // time spent sampling codes and decoding images
};
// Every prompt sampled into image codes with the paper's sampling (temperature 1, min-p 0.03,
// top-p 1; KV cache) and rendered by the decoder, prompt i on grids[i] (all on the model's first
// grid when `grids` is empty). Prompts of equal grid and token length are sampled together: in
// order of (grid, prompt length), the prompt at position k of that order draws its codes and its
// decoder noise with seed + k, so no result depends on the batch size.
ImageSet generate_images(const EvalModel& m, const plugins::DiffusionDecoder& decoder,
                         const std::vector<std::string>& prompts, const ImageSetOptions& options,
                         const std::vector<Grid>& grids = {});

// The model's greedy answer (at most 16 tokens, up to <EOS> or <EOM>) to `question` about the
// image shown by `codes` (understanding_codes of `grid`; {0, 0}: the model's first grid), decoded
// without special tokens.
std::string answer_greedily(const EvalModel& m, const std::vector<int64_t>& codes,
                            const std::string& question, Grid grid = {0, 0});

// Hit/total counters by name, and as JSON {name: {hits_key: k, "total": n, "rate": k / n}}.
using Tally = std::map<std::string, std::pair<int64_t, int64_t>>;
nlohmann::json tally_json(const Tally& tally, const char* hits_key);

}  // namespace xomni::cli
