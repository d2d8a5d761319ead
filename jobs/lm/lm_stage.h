#pragma once
// The language-model training stage: a backbone plugin (Qwen2 by default) trained on packed token
// shards, as a client of the generic trainer (train/trainer.h), which brings the optimizer, the
// step loop, checkpoints and exact resume.
#include <cstdint>

#include "lm/lm_job.h"
#include "train/signals.h"
#include "train/trainer.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::train {

// Runs (or resumes) the job over `world` (default: every rank of the MPI job; a process started
// without a launcher is a one-rank world). `max_steps_this_run` as in run_training.
TrainResult run_lm_training(const LmJob& job, int64_t max_steps_this_run = -1,
                            const parallel::MpiCommunicator* world = nullptr);
// The same from a config checked against lm_job_schema().
TrainResult run_lm_training(const Config& config, int64_t max_steps_this_run = -1,
                            const parallel::MpiCommunicator* world = nullptr);

}  // namespace xomni::train
