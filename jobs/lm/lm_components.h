#pragma once
// The LM stage's model components, made through the plugin registry: the backbone named by
// model.backbone (default "qwen2") with the plugin's [model] fields as its settings.
#include <memory>
#include <string>

#include "lm/lm_job.h"
#include "train/parallel_setup.h"
#include "xomni/plugins/components.h"

namespace xomni::train {

// The job's backbone, initialised from `seed` (the same weights under any layout): this rank's
// piece under `par` (its tensor- and context-parallel groups and pipeline stage), or the whole
// model on one rank when `par` is null. Under interleaved 1F1B (par->virtual_stages > 1) `chunk`
// picks which of this rank's model chunks (virtual stage chunk*pp + rank).
std::unique_ptr<plugins::Backbone> make_backbone(const LmModelOptions& model, uint64_t seed,
                                                 const ParallelSetup* par = nullptr, int chunk = 0);
// A one-rank backbone with the weights of an xomni training checkpoint (its saved job config
// names the plugin and the shape).
std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& checkpoint_path);
// The same for a model whose options come from elsewhere (another stage's job, e.g. rl's policy).
std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& checkpoint_path,
                                                         const LmModelOptions& model,
                                                         uint64_t seed);

}  // namespace xomni::train
