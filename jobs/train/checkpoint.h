#pragma once
// Layout-free training checkpoints for any stage: every parameter and every AdamW moment is
// stored at its global shape, each rank writing only its own piece (its tensor-parallel shard,
// its ZeRO-1 range, its pipeline stage's parameters), so a checkpoint saved under one layout
// resumes under any other. Names: model/<param>, optimizer/<param>.{exp_avg,exp_avg_sq,step},
// optimizer/step, and the stage's data positions (e.g. "train_loader").
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "train/parallel_setup.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/distributed_optimizer.h"

namespace xomni::train {

// Named int64 vectors that say where a stage's data streams stand (PackedLoader::state()).
using DataPositions = std::map<std::string, std::vector<int64_t>>;

// Collective over the world. Writes <dir>/ckpt-<step>.h5 atomically (with the job's effective
// config text), then keeps the newest `keep`.
void save_training_checkpoint(const std::string& dir, int64_t step, const std::string& config_toml,
                              const std::vector<nn::ParamInfo>& params,
                              const parallel::DistributedOptimizer& opt,
                              const DataPositions& positions, const ParallelSetup& par,
                              int64_t keep);

// Collective over the world. Loads this rank's pieces of `path` and the data positions named in
// `positions` (filled in); returns the checkpoint's step.
int64_t restore_training_checkpoint(const std::string& path,
                                    const std::vector<nn::ParamInfo>& params,
                                    parallel::DistributedOptimizer& opt, DataPositions& positions,
                                    const ParallelSetup& par);

// Where a parameter takes its weights from in another stage's checkpoint whose model parameters are
// `source`: one of those names, or "" to keep the parameter's initialisation.
using InitSourceFn =
    std::function<std::string(const std::string& name, const std::set<std::string>& source)>;

// Collective over the world. Copies this rank's pieces of another run's checkpoint weights (any
// layout) into `params`: a stage that starts from an earlier stage. Without `source_of` each
// parameter needs model/<its name>; with it, the model says where each one comes from (possibly
// another architecture) and which keep their initialisation, which is reported. Every rank throws,
// naming the checkpoint and every parameter, when a source tensor is mis-shaped or missing, or when
// nothing at all would be loaded.
void load_model_weights(const std::string& path, const std::vector<nn::ParamInfo>& params,
                        const ParallelSetup& par, const InitSourceFn& source_of = {});

// Collective over the world. The newest valid checkpoint in `dir` (as rank 0 sees it) whose
// tensors fit `params` and which holds every data position in `positions` on every rank ("" if
// none). A newer one that is unreadable or does not fit is skipped with a warning saying why.
// Every rank throws when `dir` holds checkpoints and none can be used (starting over would
// overwrite them): naming each that does not fit and why, or, when none can even be read, unless
// `ignore_unreadable` is set.
std::string agreed_checkpoint_to_resume(const std::string& dir,
                                        const std::vector<nn::ParamInfo>& params,
                                        const DataPositions& positions, const ParallelSetup& par,
                                        bool ignore_unreadable);

}  // namespace xomni::train
