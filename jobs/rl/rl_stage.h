#pragma once
// The GRPO stage (docs/RL.md): a client of the generic trainer whose every rollout round samples
// rl.group_size images for each of train.batch_size prompts (split over the data-parallel ranks),
// decodes them, scores them with the reward plugins in worker processes while the reference
// model's log-probabilities are computed, and takes rl.updates_per_batch clipped, KL-regularised
// policy steps on them.
#include <cstdint>

#include "rl/rl_job.h"
#include "train/trainer.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::rl {

// Runs (or resumes) the job over `world` (default: every rank of the MPI job). `max_steps_this_run`
// as in train::run_training.
train::TrainResult run_rl_training(const RlJob& job, int64_t max_steps_this_run = -1,
                                   const parallel::MpiCommunicator* world = nullptr);

}  // namespace xomni::rl
