#pragma once
// The language-model training stage: a backbone plugin (Qwen2 by default) trained on packed token
// shards with AdamW, checkpoints in the run directory, exact resume from the newest valid one.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::train {

// Exit status of `xomni train` when a signal (SIGINT, SIGTERM, SIGUSR1) stopped it after it
// saved a checkpoint: a batch script can requeue on this code.
constexpr int kExitStoppedWithCheckpoint = 3;

struct TrainResult {
  int64_t steps_done = 0;      // optimizer steps completed in total (including resumed ones)
  double last_loss = 0;        // mean training loss of the last step
  std::vector<double> losses;  // mean training loss of each step of this run
  double last_eval_loss = -1;  // -1 when no evaluation ran
  bool stopped_by_signal = false;
  std::string run_dir;
};

// Set by the signal handler; the loop checks it after every step.
std::atomic<bool>& stop_requested();
void install_stop_signal_handlers();

// Runs (or resumes) the job over `world` (default: every rank of the MPI job; a process started
// without a launcher is a one-rank world). `max_steps_this_run` < 0 means until train.steps;
// tests use it to stop half way as a preemption would (0 loads and saves again).
TrainResult run_lm_training(const Config& config, int64_t max_steps_this_run = -1,
                            const parallel::MpiCommunicator* world = nullptr);

}  // namespace xomni::train
