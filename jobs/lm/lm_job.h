#pragma once
// The language-model stage's job file: the shared trainer sections plus [model] (the backbone
// plugin, whose own fields the plugin declares) and [data] (token shards), parsed once.
#include <string>
#include <vector>

#include "train/options.h"
#include "xomni/core/config/config.h"
#include "xomni/parallel/topology.h"

namespace xomni::train {

struct LmModelOptions {
  std::string backbone = "qwen2";  // plugin name or library path
  std::string settings_json;       // the plugin's [model] fields as a JSON object
  parallel::ModelDims dims;        // the sizes a parallel layout must divide
  bool checkpoint_layers = false;  // recompute each block's activations in backward
  bool fused_head_loss = true;     // Backbone::stage_token_nll instead of logits then token_nll
  std::string init_checkpoint;     // start from these weights when there is nothing to resume
  std::string where;               // "<job file> [model]", for the plugin's messages
};

struct LmDataOptions {
  std::string train;  // token shards (path or glob)
  std::string valid;  // "" for none
  int64_t eval_batches = 4;
};

struct LmJob {
  TrainerOptions trainer;
  LmModelOptions model;
  LmDataOptions data;
};

// The schema of an LM job whose model.backbone is `backbone`: the [model] fields come from that
// plugin (loaded to ask it).
Schema lm_job_schema(const std::string& backbone = "qwen2");
// Reads a job file: the backbone named in it (or by an override) decides the schema. Relative
// paths written in the file are relative to its folder; overrides' to the working directory.
Config load_lm_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text; `source` names it in errors, and relative paths in the text are resolved
// against `base_dir` (none when empty).
Config parse_lm_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides = {},
                       const std::string& base_dir = "");
// The options of a config checked against lm_job_schema().
LmJob parse_lm_job(const Config& config);

}  // namespace xomni::train
