#pragma once
// The job-file sections every training stage shares, parsed once into values: [run] (where the
// run lives, its seed), [train] (the step loop's counts and cadences), [parallel] (the layout and
// its knobs), plus the optimizer and schedule sections from core. A stage adds its own sections
// (model, data) and builds its schema from stage_common_fields() and those.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/core/nn/optim_options.h"
#include "xomni/core/ops/matmul_precision.h"
#include "xomni/parallel/distributed_optimizer.h"
#include "xomni/parallel/topology.h"

namespace xomni::train {

struct RunOptions {
  std::string name = "run";
  std::string dir = "runs";
  uint64_t seed = 0;
};

struct LoopOptions {
  int64_t steps = 0;
  int64_t batch_size = 8;  // sequences per micro-batch, summed over the data-parallel ranks
  int64_t seq_len = 128;
  int64_t grad_accum = 1;
  double grad_clip = 1.0;  // 0: off
  int64_t log_every = 10;
  int64_t eval_every = 0;        // 0: off
  int64_t checkpoint_every = 0;  // 0: off
  int64_t keep_checkpoints = 3;
  // Start from step 0 when the run's checkpoint folder holds checkpoints none of which can be
  // read (they are left in place); otherwise such a run is refused.
  bool ignore_unreadable_checkpoints = false;
  // Steps to run under the per-op profiler (after one warm-up step of this run); 0: off.
  int64_t profile_steps = 0;
  // GEMM precision of the run's f32 matmuls and linears (bf16: inputs rounded, fp32 accumulation;
  // where the CPU cannot, fp32 with a warning).
  MatmulPrecision precision = MatmulPrecision::fp32;
};

struct ParallelOptions {
  parallel::Layout requested{1, 1, 0, 1};  // dp 0: the world size / (tp*cp*pp)
  bool sequence_parallel = false;
  parallel::DataParallelOptions data_parallel;  // bucket size and ZeRO-1
  std::vector<int64_t> pp_layers;  // blocks per (virtual) pipeline stage; empty: an even split
  int virtual_stages = 1;          // model chunks per pipeline rank (interleaved 1F1B when > 1)
  int64_t timeline_step = 0;       // 0: off
  double timeout_s = 600.0;
  double checkpoint_timeout_s = 3600.0;  // one checkpoint's MPI-IO (parallel::Deadline)
};

// Everything the generic trainer needs, with where it came from for messages.
struct TrainerOptions {
  RunOptions run;
  LoopOptions loop;
  ParallelOptions parallel;
  OptimizerOptions optimizer;
  LrScheduleOptions schedule;
  std::string source;       // the job file (or "<test>"), for error messages
  std::string config_toml;  // the effective job file, saved in the run and in checkpoints
};

// [run], [train], [parallel], [optimizer] and [schedule].
std::vector<FieldSpec> stage_common_fields();
// Parses those sections of a config whose schema holds stage_common_fields().
TrainerOptions parse_trainer_options(const Config& config);

// train.steps of an effective job file saved earlier (in a checkpoint), or nullopt.
std::optional<int64_t> saved_step_count(const std::string& config_toml);

}  // namespace xomni::train
