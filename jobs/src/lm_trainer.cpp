#include "lm_trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>

#include "lm_checkpoint.h"
#include "lm_components.h"
#include "lm_parallel.h"
#include "lm_step.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/nn/lr_schedule.h"
#include "xomni/core/nn/optim.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/tp_layers.h"

namespace xomni::train {
namespace fs = std::filesystem;

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

void install_stop_signal_handlers() {
  auto handler = [](int) { stop_requested().store(true); };
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
  std::signal(SIGUSR1, handler);
}

namespace {
using Clock = std::chrono::steady_clock;

}  // namespace

namespace {

// Token-weighted mean loss over `batches` validation batches of B sequences (always the same
// ones: a fresh loader), split over the data-parallel ranks like training batches.
double evaluate(const plugins::Backbone& lm, const TokenDataset& data, int64_t T, int64_t B,
                int64_t batches, const ParallelSetup& par) {
  PackedLoader loader(data, T, B / par.layout().dp, /*seed=*/0, par.coord().dp, par.layout().dp);
  double loss = 0, tokens = 0;
  for (int64_t i = 0; i < batches; ++i) {
    const PackedBatch b = context_parallel_share(loader.next(), par);
    loss += forward_loss_sum(lm, par, b);
    tokens += double(counted_tokens(b));
  }
  return sum_over_data(loss, par) / std::max(1.0, sum_over_data(tokens, par));
}

struct Progress {
  bool tty = isatty(fileno(stderr));
  void line(int64_t step, int64_t total, double loss, double lr, double tok_s, double eta_s) const {
    std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s  ETA %.0fs%s",
                 tty ? "\r" : "", static_cast<long long>(step), static_cast<long long>(total), loss,
                 lr, tok_s, eta_s, tty ? "   " : "\n");
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

// Whether any rank was asked to stop (signals may reach only some ranks).
bool any_rank_stopping(const ParallelSetup& par) {
  Tensor flag = Tensor::full({1}, stop_requested().load() ? 1.0 : 0.0, DType::i32);
  par.world->all_reduce(flag, parallel::ReduceOp::max);
  return flag.item() > 0;
}

std::vector<NamedParam> named(const std::vector<nn::ParamInfo>& infos) {
  std::vector<NamedParam> out;
  for (const nn::ParamInfo& p : infos) out.push_back({p.name, p.tensor});
  return out;
}

}  // namespace

TrainResult run_lm_training(const Config& cfg, int64_t max_steps_this_run,
                            const parallel::MpiCommunicator* world) {
  TrainResult result;
  const ParallelSetup par = setup_parallel(cfg, model_dims(cfg), world);
  const bool rank0 = par.is_rank0();
  const int64_t dp = par.layout().dp;
  const fs::path run_dir = fs::path(cfg.get_string("run.dir")) / cfg.get_string("run.name");
  const fs::path ckpt_dir = run_dir / "checkpoints";
  result.run_dir = run_dir.string();
  if (rank0) {
    fs::create_directories(ckpt_dir);
    std::ofstream(run_dir / "config.toml") << cfg.to_toml();
  }

  const int64_t B = cfg.get_int("train.batch_size"), T = cfg.get_int("train.seq_len");
  XOMNI_CHECK(B % dp == 0, cfg.source(), ": train.batch_size=", B,
              " is not divisible by the data-parallel size dp=", dp);
  const int64_t T_local = parallel::zigzag_padded_length(T, par.layout().cp) / par.layout().cp;
  XOMNI_CHECK(!par.tp.sequence_parallel || T_local % par.tp.size() == 0, cfg.source(),
              ": each rank's ", T_local, " tokens of train.seq_len=", T,
              " are not divisible by tp=", par.tp.size(),
              " (sequence parallelism splits the sequence)");
  const uint64_t seed = uint64_t(cfg.get_int("run.seed"));
  const std::unique_ptr<plugins::Backbone> model = make_backbone(cfg, &par);
  const plugins::Backbone& lm = *model;
  const std::vector<nn::ParamInfo> params = lm.parameter_infos();
  parallel::DataParallelOptions dpo;
  dpo.bucket_mb = cfg.get_float("parallel.bucket_mb");
  dpo.distributed_optimizer = cfg.get_bool("parallel.distributed_optimizer");
  // Context-parallel ranks hold the same parameters and see other tokens: they reduce gradients
  // together with the data-parallel ranks.
  parallel::DistributedOptimizer opt(named(params), adamw_options(cfg), par.groups->dp_cp(), dpo);
  const std::vector<std::string> frozen = cfg.get_strings("optimizer.freeze");
  if (!frozen.empty()) opt.freeze(frozen);
  const std::vector<bool> counted = counted_in_norm(params, par);
  const LrSchedule schedule(lr_schedule_options(cfg));

  const int64_t accum = cfg.get_int("train.grad_accum"), total = cfg.get_int("train.steps");
  XOMNI_CHECK(!cfg.get_string("data.train").empty(), cfg.source(), ": data.train is not set");
  const TokenDataset train_data = TokenDataset::open(cfg.get_string("data.train"));
  XOMNI_CHECK(train_data.vocab_size() <= lm.vocab_size(), cfg.source(), ": the shards in ",
              cfg.get_string("data.train"), " use ", train_data.vocab_size(),
              " token ids but model.vocab_size is ", lm.vocab_size());
  PackedLoader loader(train_data, T, B / dp, seed, par.coord().dp, dp);
  std::optional<TokenDataset> valid_data;
  if (!cfg.get_string("data.valid").empty())
    valid_data = TokenDataset::open(cfg.get_string("data.valid"));
  const int64_t eval_every = cfg.get_int("train.eval_every");
  const int64_t eval_batches = std::max<int64_t>(1, cfg.get_int("data.eval_batches"));

  int64_t step = 0;
  const std::string latest = agreed_latest_checkpoint(ckpt_dir.string(), par);
  if (!latest.empty()) {
    step = restore_training_checkpoint(latest, params, opt, loader, par);
    if (rank0)
      std::fprintf(stderr, "resuming from %s (step %lld)\n", latest.c_str(),
                   static_cast<long long>(step));
  }

  std::ofstream metrics;
  if (rank0) metrics.open(run_dir / "metrics.jsonl", std::ios::app);
  const Progress progress;
  const double fpt = lm.flops_per_token(T);
  const bool ckpt_layers = cfg.get_bool("model.checkpoint_layers");
  const double clip = cfg.get_float("train.grad_clip");
  const int64_t log_every = std::max<int64_t>(1, cfg.get_int("train.log_every"));
  const int64_t ckpt_every = cfg.get_int("train.checkpoint_every");
  const int64_t keep = cfg.get_int("train.keep_checkpoints");
  const int64_t timeline_step = cfg.get_int("parallel.timeline_step");
  const auto start = Clock::now();
  int64_t steps_this_run = 0;
  while (step < total && (max_steps_this_run < 0 || steps_this_run < max_steps_this_run)) {
    const auto t0 = Clock::now();
    const double lr = schedule.lr_at(step);
    opt.set_lr(lr);
    opt.zero_grad();
    // The loss is the mean over every counted token of the step (all micro-batches, all dp
    // ranks), so the summed gradients need no further scaling.
    std::vector<PackedBatch> micro;
    double tokens_here = 0;
    for (int64_t m = 0; m < accum; ++m) {
      micro.push_back(context_parallel_share(loader.next(), par));
      tokens_here += double(counted_tokens(micro.back()));
    }
    const double step_tokens = std::max(1.0, sum_over_data(tokens_here, par));
    const bool record = timeline_step > 0 && step + 1 == timeline_step;
    std::vector<parallel::TimelineEvent> events;
    const double step_loss = sum_over_data(
        forward_backward(lm, par, micro, step_tokens, ckpt_layers, record ? &events : nullptr),
        par);
    if (record) write_timeline(run_dir, events, step + 1, par);
    reduce_partial_grads(params, par);
    opt.reduce_gradients();
    const double gnorm = global_grad_norm(opt, counted, par);
    XOMNI_CHECK(std::isfinite(step_loss) && std::isfinite(gnorm), "step ", step,
                ": the loss or gradient norm is not finite (loss ", step_loss, ", grad norm ",
                gnorm, "); the last checkpoint is intact in ", ckpt_dir.string());
    if (clip > 0 && gnorm > clip) opt.scale_gradients(clip / (gnorm + 1e-6));
    opt.step();
    ++step;
    ++steps_this_run;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double tokens = double(B * T * accum);
    result.last_loss = step_loss;
    result.losses.push_back(step_loss);
    if (rank0) {
      metrics << std::setprecision(9) << "{\"step\": " << step << ", \"loss\": " << step_loss
              << ", \"lr\": " << lr << ", \"grad_norm\": " << gnorm
              << ", \"tokens_per_s\": " << tokens / secs
              << ", \"flops_per_s\": " << fpt * tokens / secs << "}\n";
      metrics.flush();
      if (step % log_every == 0 || step == total) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const double eta = elapsed / double(steps_this_run) * double(total - step);
        progress.line(step, total, step_loss, lr, tokens / secs, eta);
      }
    }
    if (valid_data && ((eval_every > 0 && step % eval_every == 0) || step == total)) {
      result.last_eval_loss = evaluate(lm, *valid_data, T, B, eval_batches, par);
      if (rank0) {
        metrics << "{\"step\": " << step << ", \"eval_loss\": " << result.last_eval_loss << "}\n";
        metrics.flush();
        std::fprintf(stderr, "%sstep %lld  eval loss %.4f\n", progress.tty ? "\n" : "",
                     static_cast<long long>(step), result.last_eval_loss);
      }
    }
    if (ckpt_every > 0 && step % ckpt_every == 0 && step < total)
      save_training_checkpoint(ckpt_dir.string(), step, cfg, params, opt, loader, par, keep);
    if (any_rank_stopping(par)) {
      result.stopped_by_signal = true;
      break;
    }
  }
  if (rank0) progress.end();
  save_training_checkpoint(ckpt_dir.string(), step, cfg, params, opt, loader, par, keep);
  result.steps_done = step;
  return result;
}

}  // namespace xomni::train
