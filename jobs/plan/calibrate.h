#pragma once
// `xomni plan --calibrate`: measures this machine's rates for the cpu device.
#include "plan/step_model.h"
#include "xomni/parallel/comm.h"

namespace xomni::plan {

struct Calibration {
  DeviceSpec device;  // the cpu defaults with the measured rates in place
  std::vector<std::pair<std::string, double>> gemm_gflops;  // per shape, for the record
  double allreduce_small_s = 0, allreduce_large_s = 0;      // 0 when one rank
  int64_t allreduce_large_bytes = 0;
  double gemm_alone_flops = 0, gemm_together_flops = 0;  // rank 0 alone; all ranks at once, summed
  double attention_flops = 0;                            // rank 0 alone, as the model counts
  double memory_together_bw = 0;                         // all ranks' elementwise passes, summed
};

// Times the job's linears forward and backward at its micro-batch's rows (best of `repeats`
// after a warm-up; weighted by how many of each a step runs, the head fused with the loss as the
// step runs it) and causal attention forward and backward at the micro-batch's shape, and, when
// `world` has 2 or more ranks, all-reduces of 8 bytes and of 16 MiB (alpha and beta); a large
// elementwise pass gives the memory bandwidth; then every rank runs the GEMMs at once, and the
// summed rate over rank 0's alone is the node's compute in cores (two hyperthreads of one core
// count as about one). Collective: every rank of `world` calls it.
Calibration calibrate_cpu(const PlanJob& job, parallel::Communicator& world, int repeats = 5);

// An rl stage job (job.rl.on): times one group's sampling with the policy the job builds (the
// stage's own loop, random weights, best of `repeats` after a warm-up) on this rank and sets
// dev.layer_call_overhead_s to what the step model of that phase leaves unexplained, per layer and
// forward call. Returns the measured seconds per group. `job_path` and `overrides` build the
// policy as `xomni train` would.
double calibrate_rl_sampling(const PlanJob& job, const std::string& job_path,
                             const std::vector<std::string>& overrides, DeviceSpec& dev,
                             int repeats = 3);

}  // namespace xomni::plan
