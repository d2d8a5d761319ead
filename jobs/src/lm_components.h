#pragma once
// The LM stage's model components, made through the plugin registry from the job file: the
// backbone named by model.backbone (default "qwen2") with the [model] section as its settings.
#include <memory>
#include <string>

#include "lm_parallel.h"
#include "xomni/core/config/config.h"
#include "xomni/parallel/topology.h"
#include "xomni/plugins/components.h"

namespace xomni::train {

// The [model] section (without the keys that select or drive the plugin) as a JSON object with
// Hugging Face field names.
std::string backbone_settings_json(const Config& config);
// The sizes a parallel layout must divide, from the [model] section.
parallel::ModelDims model_dims(const Config& config);
// The job's backbone, initialised from run.seed (the same weights under any layout): this rank's
// piece under `par` (its tensor- and context-parallel groups and pipeline stage), or the whole
// model on one rank when `par` is null.
std::unique_ptr<plugins::Backbone> make_backbone(const Config& config,
                                                 const ParallelSetup* par = nullptr);
// A one-rank backbone with the weights of an xomni training checkpoint (its saved job config
// names the plugin and the shape).
std::unique_ptr<plugins::Backbone> load_checkpoint_model(const std::string& checkpoint_path);

}  // namespace xomni::train
