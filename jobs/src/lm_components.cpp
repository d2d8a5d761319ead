#include "lm_components.h"

#include <nlohmann/json.hpp>
#include <tuple>

#include "xomni/core/io/checkpoint.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::train {

std::string backbone_settings_json(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const FieldSpec& f : c.schema().fields()) {
    if (f.key.rfind("model.", 0) != 0 || f.key == "model.backbone" ||
        f.key == "model.checkpoint_layers")
      continue;
    const std::string name = f.key.substr(6);
    switch (f.type) {
      case FieldType::integer:
        j[name] = c.get_int(f.key);
        break;
      case FieldType::floating:
        j[name] = c.get_float(f.key);
        break;
      case FieldType::boolean:
        j[name] = c.get_bool(f.key);
        break;
      case FieldType::string:
        j[name] = c.get_string(f.key);
        break;
      default:
        break;
    }
  }
  return j.dump();
}

parallel::ModelDims model_dims(const Config& c) {
  parallel::ModelDims d;
  d.num_attention_heads = c.get_int("model.num_attention_heads");
  d.num_key_value_heads = c.get_int("model.num_key_value_heads");
  d.vocab_size = c.get_int("model.vocab_size");
  d.intermediate_size = c.get_int("model.intermediate_size");
  d.num_hidden_layers = c.get_int("model.num_hidden_layers");
  return d;
}

std::unique_ptr<plugins::Backbone> make_backbone(const Config& c, const ParallelSetup* par) {
  plugins::ComponentContext ctx;
  ctx.config_json = backbone_settings_json(c);
  ctx.where = c.source() + " [model]";
  ctx.seed = uint64_t(c.get_int("run.seed"));
  if (par) {
    ctx.tp = par->tp;
    ctx.cp = &par->groups->cp();
    std::tie(ctx.first_layer, ctx.last_layer) =
        stage_layers(c, c.get_int("model.num_hidden_layers"), *par);
  }
  return plugins::create_backbone(c.get_string("model.backbone"), ctx);
}

std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& path) {
  CheckpointReader r(path);
  XOMNI_CHECK(r.has_config(), path, ": the checkpoint holds no job config");
  const Config cfg = Config::parse(r.config(), path + " (saved job config)", lm_job_schema());
  auto lm = make_backbone(cfg);
  NoGradGuard no_grad;
  for (auto& [name, t] : lm->named_parameters()) r.read_into("model/" + name, t);
  return lm;
}

}  // namespace xomni::train
