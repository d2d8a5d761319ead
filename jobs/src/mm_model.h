#pragma once
// What the X-Omni commands (generate --image-grid, imagine, ask) load: the backbone with its
// vocabulary split and context length, and a training job's multimodal.json (the folder of its
// token shards, written with them: the text tokenizer, the image tokenizer and decoder
// checkpoints, the trained grids and the special-token ids).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mm_generation.h"
#include "xomni/plugins/components.h"

namespace xomni::rl {
struct RlJob;
}

namespace xomni::cli {

struct MmModel {
  std::unique_ptr<plugins::Backbone> lm;
  std::string backbone;       // the plugin that built it
  MmVocab vocab;              // vocab.image == 0: a text-only model
  int64_t max_positions = 0;  // max_position_embeddings; 0 when the settings do not say
  std::string data_train;     // an xomni training checkpoint's [data] train ("" otherwise)
  bool is_xomni() const { return vocab.image > 0; }
};

// The backbone a Hugging Face config.json asks for: "xomni" for model_type "x-omni", otherwise
// "qwen2".
std::string backbone_for_config(const std::string& config_json, const std::string& where);

// A Hugging Face folder (config.json + safetensors). `backbone` "" picks it from model_type.
MmModel load_model_folder(const std::string& dir, const std::string& backbone);
// A checkpoint of `xomni train` (its saved job names the backbone) or of `xomni convert` (the
// folder's config.json kept as metadata). `backbone` "" picks it from the config.
MmModel load_model_checkpoint(const std::string& path, const std::string& backbone);

// multimodal.json (format "xomni-multimodal", version 1) with its paths made absolute.
struct MultimodalInfo {
  std::string path;            // the file itself
  std::string text_tokenizer;  // tokenizer.json
  int64_t text_vocab_size = 0, image_vocab_size = 0;
  std::string image_tokenizer;                     // the vq checkpoint
  std::string decoder;                             // a decoder checkpoint, "" when none
  std::vector<std::pair<int64_t, int64_t>> grids;  // [h, w] every token grid of the data
  int64_t som = -1, eom = -1, image = -1, eos = -1;
};
MultimodalInfo read_multimodal_info(const std::string& path);
// The multimodal.json of a training checkpoint's data: `override_path` (a file or a folder) when
// given, else the folder of its [data] train shards.
MultimodalInfo find_multimodal_info(const MmModel& model, const std::string& checkpoint,
                                    const std::string& override_path);
// The multimodal.json an rl job's rollouts read: rl.multimodal when set, else the one beside the
// data model.init_checkpoint was trained on (followed back through earlier rl runs). Reads the
// checkpoint's saved job only, no weights.
MultimodalInfo rl_job_multimodal_info(const rl::RlJob& job);
// Refuses a model whose vocabulary split differs from the data's.
void check_model_matches(const MmModel& model, const MultimodalInfo& info,
                         const std::string& checkpoint);

// "HxW" -> (h, w), both >= 1; `flag` names it in errors.
std::pair<int64_t, int64_t> parse_grid(const std::string& text, const char* flag);
std::string grid_list(const std::vector<std::pair<int64_t, int64_t>>& grids);  // "8x8, 4x8"
// The grid of `grids` whose aspect (w / h) is nearest `aspect` on a log scale, the first of equals
// (grids must not be empty): a wide text image gets the grid a model learnt wide images on.
std::pair<int64_t, int64_t> nearest_grid(const std::vector<std::pair<int64_t, int64_t>>& grids,
                                         double aspect);

}  // namespace xomni::cli
