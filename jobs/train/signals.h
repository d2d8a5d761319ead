#pragma once
// Stopping a run cleanly: SIGINT, SIGTERM and SIGUSR1 (Slurm's warning before preemption) set a
// flag that the step loop checks after every step; it then saves a checkpoint and returns.
#include <atomic>

namespace xomni::train {

// Exit status of a stage's command when a signal stopped it after it saved a checkpoint: a batch
// script can requeue on this code.
constexpr int kExitStoppedWithCheckpoint = 3;

// Set by the signal handler.
std::atomic<bool>& stop_requested();
void install_stop_signal_handlers();

}  // namespace xomni::train
