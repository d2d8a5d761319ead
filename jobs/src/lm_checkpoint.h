#pragma once
// Layout-free training checkpoints for the LM stage: every parameter and every AdamW moment is
// stored at its global shape, each rank writing only its own piece (its tensor-parallel shard,
// its ZeRO-1 range), so a checkpoint saved under one (tp, dp, ZeRO) layout resumes under any
// other. Names: model/<param>, optimizer/<param>.{exp_avg,exp_avg_sq,step}, optimizer/step.
#include <string>
#include <vector>

#include "lm_parallel.h"
#include "xomni/core/config/config.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/distributed_optimizer.h"

namespace xomni::train {

// Collective over the world. Writes <dir>/ckpt-<step>.h5 atomically, then keeps the newest `keep`.
void save_training_checkpoint(const std::string& dir, int64_t step, const Config& cfg,
                              const std::vector<nn::ParamInfo>& params,
                              const parallel::DistributedOptimizer& opt, const PackedLoader& loader,
                              const ParallelSetup& par, int64_t keep);

// Collective over the world. Loads this rank's pieces of `path`; returns the checkpoint's step.
int64_t restore_training_checkpoint(const std::string& path,
                                    const std::vector<nn::ParamInfo>& params,
                                    parallel::DistributedOptimizer& opt, PackedLoader& loader,
                                    const ParallelSetup& par);

// The newest valid checkpoint in `dir` as rank 0 sees it, agreed by every rank ("" if none).
std::string agreed_latest_checkpoint(const std::string& dir, const ParallelSetup& par);

}  // namespace xomni::train
