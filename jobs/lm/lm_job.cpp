// The LM job file: schema composition and parsing.
#include "lm/lm_job.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "xomni/plugins/component_registry.h"

namespace xomni::train {
namespace {

constexpr const char* kBackboneKey = "model.backbone";

// The backbone plugin's settings as [model] fields.
std::vector<FieldSpec> backbone_fields(const std::string& backbone) {
  std::vector<FieldSpec> fields = plugins::component_settings_fields("backbone", backbone);
  for (FieldSpec& f : fields) f.key = "model." + f.key;
  return fields;
}

// The backbone plugin's [model] fields as a JSON object under the plugin's own names.
std::string settings_json(const Config& c, const std::string& backbone) {
  nlohmann::json j = nlohmann::json::object();
  for (const FieldSpec& f : plugins::component_settings_fields("backbone", backbone)) {
    const std::string key = "model." + f.key;
    switch (f.type) {
      case FieldType::integer:
        j[f.key] = c.get_int(key);
        break;
      case FieldType::floating:
        j[f.key] = c.get_float(key);
        break;
      case FieldType::boolean:
        j[f.key] = c.get_bool(key);
        break;
      case FieldType::string:
        j[f.key] = c.get_string(key);
        break;
      case FieldType::string_list:
        j[f.key] = c.get_strings(key);
        break;
      case FieldType::table:
        j[f.key] = c.get_table(key);
        break;
    }
  }
  return j.dump();
}

// The layout-relevant sizes, by their Hugging Face names (every backbone's settings use them).
parallel::ModelDims dims_of(const std::string& settings, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(settings);
  parallel::ModelDims d;
  auto read = [&](const char* key, int64_t& out) {
    XOMNI_CHECK(j.contains(key) && j[key].is_number_integer(), where, ": the backbone declares no ",
                key, " (every backbone's [model] section needs it)");
    out = j[key].get<int64_t>();
  };
  read("num_attention_heads", d.num_attention_heads);
  read("num_key_value_heads", d.num_key_value_heads);
  read("vocab_size", d.vocab_size);
  read("intermediate_size", d.intermediate_size);
  read("num_hidden_layers", d.num_hidden_layers);
  return d;
}

}  // namespace

Schema lm_job_schema(const std::string& backbone) {
  std::vector<FieldSpec> fields = {
      string_field(kBackboneKey, "qwen2",
                   "backbone plugin: a name (libxomni_backbone_<name>.so) or a library path"),
  };
  for (FieldSpec& f : backbone_fields(backbone)) fields.push_back(std::move(f));
  const std::vector<FieldSpec> own = {
      bool_field("model.checkpoint_layers", false,
                 "recompute each block's activations in backward"),
      string_field("model.init_checkpoint", "",
                   "start from the weights of this checkpoint (another stage's) when the run has "
                   "none of its own"),
      string_field("data.train", "", "training token shards (path or glob)"),
      string_field("data.valid", "", "validation token shards"),
      int_field("data.eval_batches", 4, "validation micro-batches per evaluation"),
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
                       const std::vector<std::string>& overrides) {
  const std::string backbone = Config::peek_string(text, source, kBackboneKey, overrides, "qwen2");
  return Config::parse(text, source, lm_job_schema(backbone), overrides);
}

Config load_lm_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_lm_config(Config::read_text(path), path, overrides);
}

LmJob parse_lm_job(const Config& c) {
  LmJob job;
  job.trainer = parse_trainer_options(c);
  job.model.backbone = c.get_string(kBackboneKey);
  job.model.where = c.source() + " [model]";
  job.model.settings_json = settings_json(c, job.model.backbone);
  job.model.dims = dims_of(job.model.settings_json, job.model.where);
  job.model.checkpoint_layers = c.get_bool("model.checkpoint_layers");
  job.model.init_checkpoint = c.get_string("model.init_checkpoint");
  job.data.train = c.get_string("data.train");
  job.data.valid = c.get_string("data.valid");
  job.data.eval_batches = c.get_int("data.eval_batches");
  return job;
}

}  // namespace xomni::train
