// The shared job-file sections of a training stage.
#include "train/options.h"

#include <stdexcept>

#include "xomni/core/tensor/error.h"

namespace xomni::train {
namespace {

constexpr double kMaxTimeoutS = 7 * 24 * 3600.0;

// run.name names one folder inside run.dir: never a path that leads elsewhere.
void check_run_name(const std::string& name, const std::string& source) {
  XOMNI_CHECK(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos,
              source, ": run.name = \"", name,
              "\" must be one folder name inside run.dir (not empty, '.', '..', and without '/'); "
              "put the folder path in run.dir");
}

std::vector<FieldSpec> run_fields() {
  return {
      string_field(
          "run.stage", "lm",
          "the training stage: lm, siglip, vq, decoder, rl or realism (`xomni train` runs it)"),
      string_field("run.name", "run", "run name, used in the run directory"),
      string_field("run.dir", "runs", "folder that holds run directories").path(),
      int_field("run.seed", 0, "seed for initialisation and data order").at_least(0),
  };
}

std::vector<FieldSpec> loop_fields() {
  return {
      required_field("train.steps", FieldType::integer, "optimizer steps").at_least(1),
      int_field("train.batch_size", 8,
                "sequences per micro-batch, summed over the data-parallel ranks")
          .at_least(1),
      int_field("train.seq_len", 128, "tokens per sequence").at_least(1),
      int_field("train.grad_accum", 1, "micro-batches per optimizer step").at_least(1),
      float_field("train.grad_clip", 1.0, "global gradient-norm clip (0: off)").at_least(0),
      int_field("train.log_every", 10, "steps between progress lines").at_least(1),
      int_field("train.eval_every", 0, "steps between evaluations (0: off)").at_least(0),
      int_field("train.checkpoint_every", 0, "steps between checkpoints (0: off)").at_least(0),
      int_field("train.keep_checkpoints", 3, "checkpoints kept in the run directory").at_least(1),
      bool_field("train.ignore_unreadable_checkpoints", false,
                 "start from step 0 when no checkpoint of the run can be read (else: refuse)"),
      int_field("train.profile_steps", 0,
                "steps timed per op after one warm-up step: a table on stderr and "
                "<run>/profile/ (0: off)")
          .at_least(0),
      string_field("train.precision", "fp32",
                   "GEMM precision of matmuls and linears: \"fp32\", or \"bf16\" (inputs rounded "
                   "to bf16, fp32 accumulation, f32 weights and optimizer state; falls back to "
                   "fp32 with a warning on a CPU without AMX or AVX512-BF16)"),
  };
}

// The layout: world = tp x cp x dp x pp.
std::vector<FieldSpec> parallel_fields() {
  return {
      int_field("parallel.tp", 1, "tensor-parallel size").at_least(1),
      int_field("parallel.cp", 1, "context-parallel size").at_least(1),
      int_field("parallel.pp", 1, "pipeline-parallel size").at_least(1),
      int_field("parallel.dp", 0, "data-parallel size (0: the world size / (tp*cp*pp))")
          .at_least(0),
      bool_field("parallel.sequence_parallel", false,
                 "split norm/residual activations along the sequence over the tp group"),
      bool_field("parallel.distributed_optimizer", false,
                 "ZeRO-1: shard optimizer state and update over the dp group"),
      bool_field("parallel.overlap_grad_reduce", true,
                 "reduce each gradient bucket during the last backward pass, once it is final"),
      bool_field("parallel.overlap_param_gather", true,
                 "ZeRO-1: wait for each parameter's all-gather when the next forward first uses "
                 "it, not at the end of the optimizer step"),
      float_field("parallel.bucket_mb", 25.0, "gradient all-reduce bucket size (MB)")
          .greater_than(0)
          .at_most(1024 * 1024),  // 1 TB: anything larger is one bucket anyway (and inf overflows)
      string_field("parallel.pp_layers", "",
                   "blocks per pipeline stage, e.g. \"3,5\" (empty: an even split); with "
                   "virtual_stages = v, pp*v entries, one per virtual stage"),
      int_field("parallel.virtual_stages", 1,
                "model chunks per pipeline rank: v > 1 runs interleaved 1F1B over pp*v virtual "
                "stages (needs pp >= 2 and train.grad_accum a multiple of pp)")
          .at_least(1)
          .at_most(1024),
      int_field("parallel.timeline_step", 0,
                "write each rank's pipeline schedule of this step to <run>/timeline/ (0: off)")
          .at_least(0),
      // No "off" value: a hung rank must always end the job (see docs/PARALLEL.md).
      float_field("parallel.timeout_s", 600.0,
                  "seconds a rank waits in one communication before it stops the job "
                  "(> 0, at most a week)")
          .greater_than(0)
          .at_most(kMaxTimeoutS),
      float_field("parallel.checkpoint_timeout_s", 3600.0,
                  "seconds one checkpoint write or read may take under MPI before the job is "
                  "stopped (a stopped rank would otherwise hang the others inside MPI-IO; "
                  "> 0, at most a week)")
          .greater_than(0)
          .at_most(kMaxTimeoutS)};
}

// "3,5" -> {3, 5}; "" -> {}.
std::vector<int64_t> parse_layer_counts(const std::string& text, const std::string& where) {
  std::vector<int64_t> sizes;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
    try {
      sizes.push_back(std::stoll(item));
    } catch (const std::logic_error&) {
      throw Error(where + ": pp_layers = \"" + text +
                  "\" is not a comma-separated list of layer counts");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return sizes;
}

}  // namespace

std::vector<FieldSpec> stage_common_fields() {
  std::vector<FieldSpec> fields;
  for (auto part :
       {run_fields(), loop_fields(), parallel_fields(), optimizer_fields(), schedule_fields()})
    fields.insert(fields.end(), part.begin(), part.end());
  return fields;
}

TrainerOptions parse_trainer_options(const Config& c) {
  TrainerOptions o;
  o.source = c.source();
  o.config_toml = c.to_toml();
  o.run.name = c.get_string("run.name");
  check_run_name(o.run.name, c.source());
  o.run.dir = c.get_string("run.dir");
  o.run.seed = uint64_t(c.get_int("run.seed"));

  o.loop.steps = c.get_int("train.steps");
  o.loop.batch_size = c.get_int("train.batch_size");
  o.loop.seq_len = c.get_int("train.seq_len");
  o.loop.grad_accum = c.get_int("train.grad_accum");
  o.loop.grad_clip = c.get_float("train.grad_clip");
  o.loop.log_every = c.get_int("train.log_every");
  o.loop.eval_every = c.get_int("train.eval_every");
  o.loop.checkpoint_every = c.get_int("train.checkpoint_every");
  o.loop.keep_checkpoints = c.get_int("train.keep_checkpoints");
  o.loop.ignore_unreadable_checkpoints = c.get_bool("train.ignore_unreadable_checkpoints");
  o.loop.profile_steps = c.get_int("train.profile_steps");
  o.loop.precision =
      parse_matmul_precision(c.get_string("train.precision"), c.source() + " [train]");

  o.parallel.requested.tp = int(c.get_int("parallel.tp"));
  o.parallel.requested.cp = int(c.get_int("parallel.cp"));
  o.parallel.requested.pp = int(c.get_int("parallel.pp"));
  o.parallel.requested.dp = int(c.get_int("parallel.dp"));
  o.parallel.sequence_parallel = c.get_bool("parallel.sequence_parallel");
  o.parallel.data_parallel.distributed_optimizer = c.get_bool("parallel.distributed_optimizer");
  o.parallel.data_parallel.bucket_mb = c.get_float("parallel.bucket_mb");
  o.parallel.data_parallel.overlap_grad_reduce = c.get_bool("parallel.overlap_grad_reduce");
  o.parallel.data_parallel.overlap_param_gather = c.get_bool("parallel.overlap_param_gather");
  o.parallel.pp_layers =
      parse_layer_counts(c.get_string("parallel.pp_layers"), c.source() + " [parallel]");
  o.parallel.virtual_stages = int(c.get_int("parallel.virtual_stages"));
  o.parallel.timeline_step = c.get_int("parallel.timeline_step");
  o.parallel.timeout_s = c.get_float("parallel.timeout_s");
  o.parallel.checkpoint_timeout_s = c.get_float("parallel.checkpoint_timeout_s");

  o.optimizer = parse_optimizer_options(c);
  o.schedule = parse_schedule_options(c, o.optimizer.adamw.lr, o.loop.steps);
  return o;
}

std::optional<int64_t> saved_step_count(const std::string& config_toml) {
  return Config::peek_saved_int(config_toml, "train.steps");
}

}  // namespace xomni::train
