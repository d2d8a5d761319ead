#include "lm/lm_components.h"

#include <tuple>

#include "xomni/core/io/checkpoint.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::train {

std::unique_ptr<plugins::Backbone> make_backbone(const LmModelOptions& model, uint64_t seed,
                                                 const ParallelSetup* par, int chunk) {
  plugins::ComponentContext ctx;
  ctx.config_json = model.settings_json;
  ctx.where = model.where;
  ctx.seed = seed;
  if (par) {
    ctx.tp = par->tp;
    ctx.cp = &par->groups->cp();
    std::tie(ctx.first_layer, ctx.last_layer) =
        stage_layers(model.dims.num_hidden_layers, *par, chunk);
  }
  return plugins::create_backbone(model.backbone, ctx);
}

std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& path) {
  std::string config;
  {
    CheckpointReader r(path);
    XOMNI_CHECK(r.has_config(), path, ": the checkpoint holds no job config");
    config = r.config();
  }
  const LmJob job = parse_lm_job(parse_lm_config(config, path + " (saved job config)"));
  return load_checkpoint_model(path, job.model, job.trainer.run.seed);
}

std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& path,
                                                         const LmModelOptions& model,
                                                         uint64_t seed) {
  CheckpointReader r(path);
  auto lm = make_backbone(model, seed);
  NoGradGuard no_grad;
  for (auto& [name, t] : lm->named_parameters()) r.read_into("model/" + name, t);
  return lm;
}

}  // namespace xomni::train
