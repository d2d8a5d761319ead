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
#include "xomni/core/autograd.h"
#include "xomni/core/checkpoint.h"
#include "xomni/core/lr_schedule.h"
#include "xomni/core/optim.h"
#include "xomni/core/token_data.h"
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

// Summed next-token loss of one packed batch (this rank's rows), as a differentiable scalar.
Tensor batch_loss_sum(const plugins::Backbone& lm, const parallel::TensorParallel& tp,
                      const PackedBatch& b, bool checkpoint_layers) {
  plugins::BackboneInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segment_ids;
  in.checkpoint_layers = checkpoint_layers;
  Tensor logits = lm.logits(b.input, in);  // [B, T, vocab/tp]
  const int64_t n = b.input.numel();
  const Tensor flat = reshape(logits, {n, logits.size(2)});
  const Tensor targets = reshape(b.target, {n});
  if (tp.size() == 1) return cross_entropy(flat, targets, -100, Reduction::sum);
  return sum(parallel::vocab_parallel_cross_entropy(flat, targets, lm.vocab_start(), tp));
}

// Targets that count in the loss.
int64_t counted_tokens(const PackedBatch& b) {
  const Tensor t = b.target.to(DType::i64).contiguous();
  const int64_t* p = t.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += p[i] != -100;
  return n;
}

// Token-weighted mean loss over `batches` validation batches of B sequences (always the same
// ones: a fresh loader), split over the data-parallel ranks like training batches.
double evaluate(const plugins::Backbone& lm, const TokenDataset& data, int64_t T, int64_t B,
                int64_t batches, const ParallelSetup& par) {
  NoGradGuard no_grad;
  PackedLoader loader(data, T, B / par.layout().dp, /*seed=*/0, par.coord().dp, par.layout().dp);
  double loss = 0, tokens = 0;
  for (int64_t i = 0; i < batches; ++i) {
    const PackedBatch b = loader.next();
    loss += batch_loss_sum(lm, par.tp, b, false).item();
    tokens += double(counted_tokens(b));
  }
  return sum_over_dp(loss, par) / std::max(1.0, sum_over_dp(tokens, par));
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
  XOMNI_CHECK(!par.tp.sequence_parallel || T % par.tp.size() == 0, cfg.source(),
              ": train.seq_len=", T, " is not divisible by tp=", par.tp.size(),
              " (sequence parallelism splits the sequence)");
  const uint64_t seed = uint64_t(cfg.get_int("run.seed"));
  const std::unique_ptr<plugins::Backbone> model = make_backbone(cfg, par.tp);
  const plugins::Backbone& lm = *model;
  const std::vector<nn::ParamInfo> params = lm.parameter_infos();
  parallel::DataParallelOptions dpo;
  dpo.bucket_mb = cfg.get_float("parallel.bucket_mb");
  dpo.distributed_optimizer = cfg.get_bool("parallel.distributed_optimizer");
  parallel::DistributedOptimizer opt(named(params), adamw_options(cfg), par.groups->dp(), dpo);
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
      micro.push_back(loader.next());
      tokens_here += double(counted_tokens(micro.back()));
    }
    const double step_tokens = std::max(1.0, sum_over_dp(tokens_here, par));
    double loss_sum = 0;
    for (const PackedBatch& b : micro) {
      Tensor loss = batch_loss_sum(lm, par.tp, b, ckpt_layers);
      loss_sum += loss.item();
      mul(loss, 1.0 / step_tokens).backward();
    }
    const double step_loss = sum_over_dp(loss_sum, par) / step_tokens;
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
