#pragma once
// [train] profile_steps: runs the per-op profiler (xomni/core/tensor/profiler.h) over a window of
// a run's steps, after one warm-up step, and writes what it saw: the table on stderr (rank 0)
// and, per rank, <run>/profile/ops-rank<r>.txt and trace-rank<r>.json (Chrome trace format).
#include <cstdint>
#include <filesystem>
#include <string>

namespace xomni::train {

class StepProfile {
 public:
  // `steps` to profile (0: off) of a run that has `steps_left` steps to go on this rank.
  StepProfile(int64_t steps, int64_t steps_left, std::filesystem::path dir, int rank);
  ~StepProfile();  // a window cut short (a signal, an error) still stops the profiler
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;

  // Around each step of this run, `index` counting from 0.
  void before_step(int64_t index);
  void after_step(int64_t index, double step_seconds);
  // Writes what a window cut short collected (no-op when none is open).
  void finish();

 private:
  int64_t first_ = 0, count_ = 0;  // the window [first_, first_ + count_) of step indices
  std::filesystem::path dir_;
  int rank_ = 0;
  bool running_ = false;
  int64_t done_ = 0;
  double seconds_ = 0;
  long faults_at_start_ = 0;
};

}  // namespace xomni::train
