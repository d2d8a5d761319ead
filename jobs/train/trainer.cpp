#include "train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <optional>

#include "train/signals.h"
#include "train/step_profile.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/nn/lr_schedule.h"
#include "xomni/core/ops/blas_info.h"
#include "xomni/core/tensor/profiler.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::train {
namespace fs = std::filesystem;
namespace {
using Clock = std::chrono::steady_clock;

struct Progress {
  bool tty = isatty(fileno(stderr));
  void line(int64_t step, int64_t total, double loss, double lr, double items_s,
            double eta_s) const {
    std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s  ETA %.0fs%s",
                 tty ? "\r" : "", static_cast<long long>(step), static_cast<long long>(total), loss,
                 lr, items_s, eta_s, tty ? "   " : "\n");
    std::fflush(stderr);
  }
  void end() const {
    if (tty) std::fprintf(stderr, "\n");
  }
};

// This rank's schedule events of one step: <run>/timeline/rank-<world rank>.jsonl (replaced).
void write_timeline(const fs::path& run_dir, std::vector<parallel::TimelineEvent> events,
                    int64_t step, const ParallelSetup& par) {
  for (parallel::TimelineEvent& e : events) {  // one row per world rank in the picture
    e.rank = par.world->rank();
    e.step = step;
  }
  const fs::path dir = run_dir / "timeline";
  fs::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.jsonl", par.world->rank());
  fs::remove(dir / name);
  parallel::append_timeline_jsonl((dir / name).string(), events);
}

// What every rank must agree on after a step: whether any was asked to stop (signals may reach
// only some ranks), and whether writing the metrics failed (only rank 0 writes them).
struct EndOfStep {
  bool stop = false;
  bool metrics_failed = false;
};
EndOfStep end_of_step_vote(bool metrics_failed, const ParallelSetup& par) {
  Tensor flags = Tensor::zeros({2}, DType::i32);
  flags.data<int32_t>()[0] = stop_requested().load() ? 1 : 0;
  flags.data<int32_t>()[1] = metrics_failed ? 1 : 0;
  par.world->all_reduce(flags, parallel::ReduceOp::max);
  return {flags.data<int32_t>()[0] > 0, flags.data<int32_t>()[1] > 0};
}

// Keeps the complete lines of an existing metrics file that belong to steps up to `step` (where
// the run resumes), so a resumed run neither appends after a line cut short by a crash or a full
// disk nor repeats steps. Rewritten through a temporary file and a rename.
void trim_metrics(const fs::path& path, int64_t step) {
  if (!fs::is_regular_file(path)) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string kept;
  size_t dropped = 0, pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    if (end == std::string::npos) {  // a partial last line
      ++dropped;
      break;
    }
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    long long line_step = -1;
    if (std::sscanf(line.c_str(), "{\"step\": %lld,", &line_step) == 1 && line_step <= step)
      kept += line + "\n";
    else
      ++dropped;
  }
  if (dropped == 0) return;
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kept;
    out.flush();
    XOMNI_CHECK(out.good(), "cannot write ", tmp.string(), ": ", std::strerror(errno));
  }
  fs::rename(tmp, path);
  std::fprintf(stderr,
               "%s: dropped %zu line(s) after step %lld (cut short, or from steps the run "
               "now repeats)\n",
               path.c_str(), dropped, static_cast<long long>(step));
}

std::vector<NamedParam> named(const std::vector<nn::ParamInfo>& infos) {
  std::vector<NamedParam> out;
  for (const nn::ParamInfo& p : infos) out.push_back({p.name, p.tensor});
  return out;
}

// The optimizer, the schedule and what a step needs to reduce and clip gradients.
struct Optimization {
  Optimization(const std::vector<nn::ParamInfo>& params, const TrainerOptions& o,
               const ParallelSetup& par)
      : grad_comm(gradient_comm(o, par)),
        opt(named(params), o.optimizer.adamw, grad_comm ? *grad_comm : par.groups->dp_cp(),
            o.parallel.data_parallel),
        counted(counted_in_norm(params, par)),
        schedule(o.schedule) {
    // Sequence-parallel norm weights are summed over tp after backward (reduce_partial_grads):
    // an overlapped reduction must not take them before that.
    std::vector<bool> held;
    for (const nn::ParamInfo& p : params)
      held.push_back(p.sharding.partial_grad && par.tp.size() > 1);
    opt.hold_until_reduce(held);
    const std::vector<std::string> frozen = frozen_names(params, o, par);
    if (o.optimizer.freeze.empty() && o.optimizer.trainable.empty()) return;
    if (!frozen.empty()) opt.freeze(frozen);
    // Each rank holds only its shard or pipeline stage: count what still trains over the world.
    Tensor trainable = Tensor::zeros({1}, DType::i64);
    for (const nn::ParamInfo& p : params)
      if (p.tensor.requires_grad()) trainable.data<int64_t>()[0] += 1;
    par.world->all_reduce(trainable, parallel::ReduceOp::sum);
    XOMNI_CHECK(trainable.data<int64_t>()[0] > 0, o.source, ": optimizer.",
                o.optimizer.trainable.empty() ? "freeze" : "trainable", " = [",
                join(o.optimizer.trainable.empty() ? o.optimizer.freeze : o.optimizer.trainable),
                "] freezes every parameter of the model, so nothing would train");
  }
  // This rank's parameters to freeze: those matching optimizer.freeze, or with
  // optimizer.trainable those matching none of its globs. A glob must match a parameter on some
  // rank (a pipeline stage holds only its own), which every rank checks together.
  static std::vector<std::string> frozen_names(const std::vector<nn::ParamInfo>& params,
                                               const TrainerOptions& o, const ParallelSetup& par) {
    const bool by_trainable = !o.optimizer.trainable.empty();
    const std::vector<std::string>& globs =
        by_trainable ? o.optimizer.trainable : o.optimizer.freeze;
    if (globs.empty()) return {};
    Tensor hits = Tensor::zeros({int64_t(globs.size())}, DType::i64);
    std::vector<std::string> frozen;
    for (const nn::ParamInfo& p : params) {
      bool matched = false;
      for (size_t g = 0; g < globs.size(); ++g)
        if (glob_match(globs[g], p.name)) hits.data<int64_t>()[g] += 1, matched = true;
      if (matched != by_trainable) frozen.push_back(p.name);
    }
    par.world->all_reduce(hits, parallel::ReduceOp::sum);
    for (size_t g = 0; g < globs.size(); ++g)
      XOMNI_CHECK(hits.data<int64_t>()[g] > 0, o.source, ": optimizer.",
                  by_trainable ? "trainable" : "freeze", " pattern '", globs[g],
                  "' matches no parameter name of the model");
    return frozen;
  }
  static std::string join(const std::vector<std::string>& globs) {
    std::string out;
    for (const std::string& g : globs) out += (out.empty() ? "\"" : ", \"") + g + "\"";
    return out;
  }
  // The overlapped reduction posts its collectives during backward, and the overlapped parameter
  // gather waits for its own during forward, where ranks may differ in how many they have posted
  // or finished when the stage's own dp x cp collectives (its loss sum) come: a communicator of
  // its own keeps the two orders apart.
  static std::unique_ptr<parallel::MpiCommunicator> gradient_comm(const TrainerOptions& o,
                                                                  const ParallelSetup& par) {
    parallel::Communicator& dp_cp = par.groups->dp_cp();
    const parallel::DataParallelOptions& d = o.parallel.data_parallel;
    const bool gather = d.overlap_param_gather && d.distributed_optimizer;
    if (!(d.overlap_grad_reduce || gather) || dp_cp.size() == 1) return nullptr;
    auto* mpi = dynamic_cast<parallel::MpiCommunicator*>(&dp_cp);
    XOMNI_CHECK(mpi != nullptr, o.source, ": parallel.",
                d.overlap_grad_reduce ? "overlap_grad_reduce" : "overlap_param_gather",
                " needs the MPI backend");
    return mpi->split(0, mpi->rank(), dp_cp.name() + ".grads");
  }
  std::unique_ptr<parallel::MpiCommunicator> grad_comm;
  // Context-parallel ranks hold the same parameters and see other tokens: they reduce gradients
  // together with the data-parallel ranks.
  parallel::DistributedOptimizer opt;
  std::vector<bool> counted;
  LrSchedule schedule;
};

// The largest peaks of any rank so far, in MiB: the resident set (getrusage's ru_maxrss is KiB on
// Linux) and the tensors' own memory (the CPU allocator's live blocks, without its cache): the
// measured side of the step model's memory prediction (docs/SCALING.md).
struct PeakMemory {
  double rss_mib = 0, tensor_mib = 0;
};
PeakMemory peak_memory(const ParallelSetup& par) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  Tensor peaks = Tensor::zeros({2}, DType::i64);
  peaks.data<int64_t>()[0] = int64_t(u.ru_maxrss);
  peaks.data<int64_t>()[1] = int64_t(cpu_allocator::peak_live_bytes() / 1024);
  par.world->all_reduce(peaks, parallel::ReduceOp::max);
  return {double(peaks.data<int64_t>()[0]) / 1024.0, double(peaks.data<int64_t>()[1]) / 1024.0};
}

// One metrics.jsonl line.
void write_step_metrics(std::ofstream& out, int64_t step, const StepOutput& s, double lr,
                        double gnorm, double items_s, double flops_s, const PeakMemory& peak) {
  out << std::setprecision(9) << "{\"step\": " << step << ", \"loss\": " << s.loss
      << ", \"lr\": " << lr << ", \"grad_norm\": " << gnorm << ", \"tokens_per_s\": " << items_s
      << ", \"flops_per_s\": " << flops_s << ", \"peak_rss_mib\": " << peak.rss_mib
      << ", \"peak_tensor_mib\": " << peak.tensor_mib;
  // JSON has no NaN: a metric without a value this step (e.g. a reward no prompt of the round
  // used) is null.
  for (const auto& [name, value] : s.metrics) {
    out << ", \"" << name << "\": ";
    if (std::isfinite(value))
      out << value;
    else
      out << "null";
  }
  out << "}\n";
  out.flush();
}

// <run>/config.toml, replaced whole (through a temporary file) or not at all; a failed write (a
// full disk) is an error naming the file.
void write_run_config(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out.good()) {
      const int err = errno;
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error("cannot write " + path.string() + ": " +
                  (err != 0 ? std::strerror(err) : "write failed") +
                  "; free space (or fix permissions) and rerun");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  XOMNI_CHECK(!ec, "cannot replace ", path.string(), ": ", ec.message());
}

// When the job's train.steps differs from the one the resumed checkpoint's job had, says what that
// does: the run continues to the new count, and schedules that depend on the total (cosine,
// linear, wsd) are stretched or squeezed to it from the resumed step on.
void explain_changed_step_count(const std::string& checkpoint, int64_t step,
                                const TrainerOptions& o, const LrSchedule& schedule) {
  std::optional<int64_t> saved;
  try {
    CheckpointReader r(checkpoint, CheckpointVerify::structure);
    if (r.has_config()) saved = saved_step_count(r.config());
  } catch (const std::exception&) {
    return;  // it was just restored from; a second look that fails changes nothing
  }
  if (!saved || *saved == o.loop.steps) return;
  std::fprintf(stderr,
               "train.steps is %lld; the job that wrote %s had %lld. Training continues from "
               "step %lld to %lld",
               static_cast<long long>(o.loop.steps), checkpoint.c_str(),
               static_cast<long long>(*saved), static_cast<long long>(step),
               static_cast<long long>(o.loop.steps));
  LrScheduleOptions before = schedule.options();
  before.total_steps = *saved;
  double old_lr = -1;
  try {
    old_lr = LrSchedule(before).lr_at(step);
  } catch (const std::exception&) {
  }
  const double new_lr = schedule.lr_at(step);
  if (old_lr >= 0 && old_lr != new_lr)
    std::fprintf(stderr,
                 ", and the learning-rate schedule is %s to the new total: the rate at step %lld "
                 "is %.4g (%.4g under the old total)",
                 *saved < o.loop.steps ? "stretched" : "squeezed", static_cast<long long>(step),
                 new_lr, old_lr);
  std::fprintf(stderr, "\n");
}

}  // namespace

TrainResult run_training(Stage& stage, const TrainerOptions& o, const StartOptions& start,
                         const ParallelSetup& par, int64_t max_steps_this_run) {
  TrainResult result;
  const bool rank0 = par.is_rank0();
  // train.precision for this run's GEMMs (fp32 with a warning where bf16 cannot run), undone after.
  const MatmulPrecisionScope precision(o.loop.precision);
  if (rank0 && precision.in_effect() == MatmulPrecision::bf16)
    std::fprintf(stderr,
                 "matmul precision bf16 (%s kernel): GEMM inputs rounded to bf16, fp32 "
                 "accumulation, f32 weights and optimizer state\n",
                 bf16_kernel_name(matmul_bf16_kernel()));
  if (const std::string slow = blas_kernel_warning();
      rank0 && !slow.empty() && precision.in_effect() == MatmulPrecision::fp32)
    std::fprintf(stderr, "warning: %s\n", slow.c_str());
  const fs::path run_dir = fs::path(o.run.dir) / o.run.name;
  const fs::path ckpt_dir = run_dir / "checkpoints";
  result.run_dir = run_dir.string();
  if (rank0) fs::create_directories(ckpt_dir);
  const std::vector<nn::ParamInfo> params = stage.parameters();
  Optimization optim(params, o, par);
  parallel::DistributedOptimizer& opt = optim.opt;

  int64_t step = 0;
  DataPositions positions = stage.data_positions();
  const std::string latest = agreed_checkpoint_to_resume(ckpt_dir.string(), params, positions, par,
                                                         o.loop.ignore_unreadable_checkpoints);
  if (!latest.empty()) {
    step = restore_training_checkpoint(latest, params, opt, positions, par);
    stage.restore_data_positions(positions);
  } else if (!start.init_checkpoint.empty()) {
    load_model_weights(start.init_checkpoint, params, par, start.init_source);
    if (rank0)
      std::fprintf(stderr, "starting from the weights of %s\n", start.init_checkpoint.c_str());
  }
  const int64_t total = o.loop.steps;
  XOMNI_CHECK(step <= total, o.source, ": train.steps = ", total, " but the run ", run_dir.string(),
              " is already at step ", step, " (", latest,
              "); a run does not go back. Set train.steps to at least ", step,
              " to continue it, or give another run.name to start a new run");
  if (!latest.empty() && step == total) {
    // Nothing to train: the run's files stay as they are (config.toml included).
    if (rank0)
      std::fprintf(stderr,
                   "run %s is already complete at step %lld (train.steps); nothing to do. Raise "
                   "train.steps to train it further\n",
                   run_dir.c_str(), static_cast<long long>(step));
    result.already_complete = true;
    result.steps_done = step;
    return result;
  }
  if (rank0) {
    if (!latest.empty()) {
      std::fprintf(stderr, "resuming from %s (step %lld)\n", latest.c_str(),
                   static_cast<long long>(step));
      explain_changed_step_count(latest, step, o, optim.schedule);
    }
    write_run_config(run_dir / "config.toml", o.config_toml);
  }
  auto save = [&] {
    save_training_checkpoint(ckpt_dir.string(), step, o.config_toml, params, opt,
                             stage.data_positions(), par, o.loop.keep_checkpoints);
  };

  const fs::path metrics_path = run_dir / "metrics.jsonl";
  std::ofstream metrics;
  if (rank0) {
    trim_metrics(metrics_path, step);
    metrics.open(metrics_path, std::ios::app);
  }
  // The first failed write of metrics, with the system's reason ("" while none failed).
  std::string metrics_error;
  auto check_metrics = [&] {
    if (rank0 && metrics_error.empty() && !metrics.good())
      metrics_error = errno != 0 ? std::strerror(errno) : "write failed";
  };
  check_metrics();
  const Progress progress;
  const int64_t log_every = std::max<int64_t>(1, o.loop.log_every);
  const double items = stage.items_per_step(), flops = stage.flops_per_step();
  const auto start_time = Clock::now();
  int64_t steps_this_run = 0;
  const int64_t steps_left =
      max_steps_this_run < 0 ? total - step : std::min(total - step, max_steps_this_run);
  StepProfile profile(o.loop.profile_steps, steps_left, run_dir / "profile", par.world->rank());
  while (step < total && (max_steps_this_run < 0 || steps_this_run < max_steps_this_run)) {
    profile.before_step(steps_this_run);
    const auto t0 = Clock::now();
    const double lr = optim.schedule.lr_at(step);
    opt.set_lr(lr);
    opt.zero_grad();
    opt.expect_backward_passes(stage.backward_passes_per_step());
    const bool record = o.parallel.timeline_step > 0 && step + 1 == o.parallel.timeline_step;
    std::vector<parallel::TimelineEvent> events;
    const StepOutput out = stage.forward_backward(record ? &events : nullptr);
    if (record) write_timeline(run_dir, events, step + 1, par);
    double gnorm = 0;
    {
      profiler::PhaseScope phase("optimizer");
      {
        profiler::Scope scope("grad_reduce");  // self time: the communication
        reduce_partial_grads(params, par);
        opt.reduce_gradients();
      }
      {
        profiler::Scope scope("grad_norm");
        gnorm = global_grad_norm(opt, optim.counted, par);
      }
      XOMNI_CHECK(std::isfinite(out.loss) && std::isfinite(gnorm), "step ", step,
                  ": the loss or gradient norm is not finite (loss ", out.loss, ", grad norm ",
                  gnorm, "); the last checkpoint is intact in ", ckpt_dir.string());
      profiler::Scope scope("optimizer_step");
      // Clipping scales the gradients inside AdamW's pass (a separate pass over them was 4% of a
      // GPT-2-small bf16 step).
      const bool clip = o.loop.grad_clip > 0 && gnorm > o.loop.grad_clip;
      opt.step(clip ? o.loop.grad_clip / (gnorm + 1e-6) : 1.0);
    }
    ++step;
    ++steps_this_run;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    profile.after_step(steps_this_run - 1, secs);
    result.last_loss = out.loss;
    result.losses.push_back(out.loss);
    const PeakMemory peak = peak_memory(par);
    if (rank0) {
      write_step_metrics(metrics, step, out, lr, gnorm, items / secs, flops / secs, peak);
      check_metrics();
      if (step % log_every == 0 || step == total) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - start_time).count();
        const double eta = elapsed / double(steps_this_run) * double(total - step);
        progress.line(step, total, out.loss, lr, items / secs, eta);
      }
    }
    const bool eval_due = (o.loop.eval_every > 0 && step % o.loop.eval_every == 0) || step == total;
    if (stage.has_evaluation() && eval_due) {
      result.last_eval_loss = stage.evaluate();
      if (rank0) {
        metrics << "{\"step\": " << step << ", \"eval_loss\": " << result.last_eval_loss;
        for (const auto& [name, value] : stage.evaluation_metrics())
          metrics << ", \"" << name << "\": " << value;
        metrics << "}\n";
        metrics.flush();
        check_metrics();
        std::fprintf(stderr, "%sstep %lld  eval loss %.4f", progress.tty ? "\n" : "",
                     static_cast<long long>(step), result.last_eval_loss);
        for (const auto& [name, value] : stage.evaluation_metrics())
          std::fprintf(stderr, "  %s %.4f", name.c_str(), value);
        std::fprintf(stderr, "\n");
      }
    }
    // A run whose metrics cannot be written stops before its next checkpoint: the last one and
    // the metrics up to it stay consistent, and rerunning resumes from there.
    const EndOfStep vote = end_of_step_vote(!metrics_error.empty(), par);
    XOMNI_CHECK(!vote.metrics_failed, "step ", step, ": cannot write ", metrics_path.string(),
                rank0 ? " (" + metrics_error + ")" : std::string(),
                "; stopping. The last checkpoint in ", ckpt_dir.string(),
                " is intact: free space (or fix permissions) and rerun the same command to resume");
    const bool can_save = stage.can_checkpoint();
    if (o.loop.checkpoint_every > 0 && step % o.loop.checkpoint_every == 0 && step < total &&
        can_save)
      save();
    if (vote.stop && can_save) {
      result.stopped_by_signal = true;
      break;
    }
  }
  profile.finish();
  if (rank0) progress.end();
  save();
  result.steps_done = step;
  return result;
}

}  // namespace xomni::train
