// The LM job file: schema composition and parsing.
#include "lm/lm_job.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/plugin_options.h"

namespace xomni::train {
namespace {

constexpr const char* kBackboneKey = "model.backbone";

// Job-level checks across sections, once every field is within its own range.
void check_fits_model(const LmJob& job, const std::string& source) {
  const nlohmann::json j = nlohmann::json::parse(job.model.settings_json);
  const int64_t seq_len = job.trainer.loop.seq_len;
  if (j.contains("max_position_embeddings") && j["max_position_embeddings"].is_number_integer()) {
    const int64_t max_pos = j["max_position_embeddings"].get<int64_t>();
    XOMNI_CHECK(seq_len <= max_pos, source, ": train.seq_len = ", seq_len,
                " is longer than model.max_position_embeddings = ", max_pos,
                "; lower train.seq_len or raise model.max_position_embeddings");
  }
  // One micro-batch's logits (batch x seq_len x vocab floats) must at least be countable: a size
  // that overflows 64 bits would wrap around where buffers are sized.
  int64_t tokens = 0, logits = 0, bytes = 0;
  XOMNI_CHECK(!__builtin_mul_overflow(job.trainer.loop.batch_size, seq_len, &tokens) &&
                  !__builtin_mul_overflow(tokens, job.model.dims.vocab_size, &logits) &&
                  !__builtin_mul_overflow(logits, int64_t(sizeof(float)), &bytes),
              source, ": train.batch_size = ", job.trainer.loop.batch_size,
              " x train.seq_len = ", seq_len, " x model.vocab_size = ", job.model.dims.vocab_size,
              " logits per micro-batch is more than 64 bits can count; lower train.batch_size or "
              "train.seq_len");
}

}  // namespace

Schema lm_job_schema(const std::string& backbone) {
  std::vector<FieldSpec> fields = {
      string_field(kBackboneKey, "qwen2",
                   "backbone plugin: a name (libxomni_backbone_<name>.so) or a library path")
          .plugin(),
  };
  for (FieldSpec& f : jobs::plugin_section_fields("backbone", backbone, "model"))
    fields.push_back(std::move(f));
  const std::vector<FieldSpec> own = {
      bool_field("model.checkpoint_layers", false,
                 "recompute each block's activations in backward"),
      bool_field(
          "model.fused_head_loss", true,
          "score the head together with the loss over vocabulary chunks, never holding "
          "the logits (one more head-sized GEMM per step; false: the logits, then the loss)"),
      string_field("model.init_checkpoint", "",
                   "start from the weights of this checkpoint (another stage's) when the run has "
                   "none of its own")
          .path(),
      string_field("data.train", "", "training token shards (path or glob)").path(),
      string_field("data.valid", "", "validation token shards").path(),
      int_field("data.eval_batches", 4, "validation micro-batches per evaluation").at_least(1),
  };
  fields.insert(fields.end(), own.begin(), own.end());
  // [run] first, then the stage's own sections, then the loop, layout and optimizer.
  std::vector<FieldSpec> common = stage_common_fields();
  const auto first_loop_field = std::find_if(
      common.begin(), common.end(), [](const FieldSpec& f) { return f.key.rfind("run.", 0) != 0; });
  common.insert(first_loop_field, fields.begin(), fields.end());
  return Schema(std::move(common));
}

Config parse_lm_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides, const std::string& base_dir) {
  const std::string backbone =
      jobs::peek_plugin(text, source, kBackboneKey, overrides, "qwen2", base_dir);
  return Config::parse(text, source, lm_job_schema(backbone), overrides, base_dir);
}

Config load_lm_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_lm_config(Config::read_text(path), path, overrides, Config::folder_of(path));
}

LmJob parse_lm_job(const Config& c) {
  LmJob job;
  job.trainer = parse_trainer_options(c);
  job.model.backbone = c.get_string(kBackboneKey);
  job.model.where = c.source() + " [model]";
  job.model.settings_json = jobs::plugin_settings_json(c, "backbone", job.model.backbone, "model");
  job.model.dims = jobs::backbone_dims(job.model.settings_json, job.model.where);
  job.model.checkpoint_layers = c.get_bool("model.checkpoint_layers");
  job.model.fused_head_loss = c.get_bool("model.fused_head_loss");
  job.model.init_checkpoint = c.get_string("model.init_checkpoint");
  job.data.train = c.get_string("data.train");
  job.data.valid = c.get_string("data.valid");
  job.data.eval_batches = c.get_int("data.eval_batches");
  check_fits_model(job, c.source());
  return job;
}

}  // namespace xomni::train
