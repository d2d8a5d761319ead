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

#include "xomni/core/autograd.h"
#include "xomni/core/checkpoint.h"
#include "xomni/core/lr_schedule.h"
#include "xomni/core/optim.h"
#include "xomni/core/token_data.h"
#include "xomni/qwen2/model.h"

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

qwen2::Config model_config(const Config& c) {
  qwen2::Config m;
  m.vocab_size = c.get_int("model.vocab_size");
  m.hidden_size = c.get_int("model.hidden_size");
  m.intermediate_size = c.get_int("model.intermediate_size");
  m.num_hidden_layers = c.get_int("model.num_hidden_layers");
  m.num_attention_heads = c.get_int("model.num_attention_heads");
  m.num_key_value_heads = c.get_int("model.num_key_value_heads");
  m.max_position_embeddings = c.get_int("model.max_position_embeddings");
  m.rope_theta = c.get_float("model.rope_theta");
  m.rms_norm_eps = c.get_float("model.rms_norm_eps");
  m.tie_word_embeddings = c.get_bool("model.tie_word_embeddings");
  m.validate(c.source() + " [model]");
  return m;
}

std::unique_ptr<qwen2::CausalLM> load_checkpoint_model(const std::string& path) {
  CheckpointReader r(path);
  XOMNI_CHECK(r.has_config(), path, ": the checkpoint holds no job config");
  const Config cfg = Config::parse(r.config(), path + " (saved job config)", lm_job_schema());
  auto lm = std::make_unique<qwen2::CausalLM>(model_config(cfg), 0);
  NoGradGuard no_grad;
  for (auto& [name, t] : lm->named_parameters()) r.read_into("model/" + name, t);
  return lm;
}

namespace {

// Mean next-token loss of one packed batch.
Tensor batch_loss(const qwen2::CausalLM& lm, const PackedBatch& b, bool checkpoint_layers) {
  qwen2::ForwardOptions opt;
  opt.positions = b.positions;
  opt.segment_ids = b.segment_ids;
  opt.checkpoint_layers = checkpoint_layers;
  Tensor logits = lm(b.input, opt);
  const int64_t n = b.input.numel();
  return cross_entropy(reshape(logits, {n, lm.config().vocab_size}), reshape(b.target, {n}));
}

// Model FLOPs per token of a training step: 6 per parameter plus attention's score/value
// products (forward 4*T*d per layer, times 3 for forward+backward).
double flops_per_token(const qwen2::Config& m, int64_t n_params, int64_t seq_len) {
  return 6.0 * double(n_params) +
         12.0 * double(m.num_hidden_layers * m.hidden_size * seq_len) / 2.0;
}

// Mean loss over `batches` validation batches, always the same ones (a fresh loader).
double evaluate(const qwen2::CausalLM& lm, const TokenDataset& data, int64_t T, int64_t B,
                int64_t batches) {
  NoGradGuard no_grad;
  PackedLoader loader(data, T, B, /*seed=*/0);
  double sum = 0;
  for (int64_t i = 0; i < batches; ++i) sum += batch_loss(lm, loader.next(), false).item();
  return sum / double(batches);
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

void save(const std::string& dir, int64_t step, const Config& cfg, const qwen2::CausalLM& lm,
          const AdamW& opt, const PackedLoader& loader, int64_t keep) {
  CheckpointWriter w(dir, step);
  for (const auto& [name, t] : lm.named_parameters()) w.write_tensor("model/" + name, t.detach());
  for (const NamedParam& s : opt.state()) w.write_tensor("optimizer/" + s.name, s.tensor);
  w.set_data_position("train_loader", loader.state());
  w.set_config(cfg.to_toml());
  w.commit();
  prune_checkpoints(dir, int(keep));
}

void restore(const CheckpointReader& r, qwen2::CausalLM& lm, AdamW& opt, PackedLoader& loader) {
  NoGradGuard no_grad;
  for (auto& [name, t] : lm.named_parameters()) r.read_into("model/" + name, t);
  std::vector<NamedParam> state = opt.state();
  for (NamedParam& s : state) s.tensor = r.read_tensor("optimizer/" + s.name);
  opt.load_state(state);
  loader.restore(r.data_position("train_loader"));
}
}  // namespace

TrainResult run_lm_training(const Config& cfg, int64_t max_steps_this_run) {
  TrainResult result;
  const fs::path run_dir = fs::path(cfg.get_string("run.dir")) / cfg.get_string("run.name");
  const fs::path ckpt_dir = run_dir / "checkpoints";
  fs::create_directories(ckpt_dir);
  result.run_dir = run_dir.string();
  std::ofstream(run_dir / "config.toml") << cfg.to_toml();

  const qwen2::Config mcfg = model_config(cfg);
  const uint64_t seed = uint64_t(cfg.get_int("run.seed"));
  qwen2::CausalLM lm(mcfg, seed);
  std::vector<NamedParam> params;
  int64_t n_params = 0;
  for (auto& [name, t] : lm.named_parameters()) {
    params.push_back({name, t});
    n_params += t.numel();
  }
  AdamW opt(params, adamw_options(cfg));
  const std::vector<std::string> frozen = cfg.get_strings("optimizer.freeze");
  if (!frozen.empty()) opt.freeze(frozen);
  const LrSchedule schedule(lr_schedule_options(cfg));

  const int64_t B = cfg.get_int("train.batch_size"), T = cfg.get_int("train.seq_len");
  const int64_t accum = cfg.get_int("train.grad_accum"), total = cfg.get_int("train.steps");
  XOMNI_CHECK(!cfg.get_string("data.train").empty(), cfg.source(), ": data.train is not set");
  const TokenDataset train_data = TokenDataset::open(cfg.get_string("data.train"));
  XOMNI_CHECK(train_data.vocab_size() <= mcfg.vocab_size, cfg.source(), ": the shards in ",
              cfg.get_string("data.train"), " use ", train_data.vocab_size(),
              " token ids but model.vocab_size is ", mcfg.vocab_size);
  PackedLoader loader(train_data, T, B, seed);
  std::optional<TokenDataset> valid_data;
  if (!cfg.get_string("data.valid").empty())
    valid_data = TokenDataset::open(cfg.get_string("data.valid"));
  const int64_t eval_every = cfg.get_int("train.eval_every");
  const int64_t eval_batches = std::max<int64_t>(1, cfg.get_int("data.eval_batches"));

  int64_t step = 0;
  if (auto latest = latest_valid_checkpoint(ckpt_dir.string(), [](const std::string& w) {
        std::fprintf(stderr, "warning: %s\n", w.c_str());
      })) {
    CheckpointReader r(latest->path);
    restore(r, lm, opt, loader);
    step = r.step();
    std::fprintf(stderr, "resuming from %s (step %lld)\n", latest->path.c_str(),
                 static_cast<long long>(step));
  }

  std::ofstream metrics(run_dir / "metrics.jsonl", std::ios::app);
  const Progress progress;
  const double fpt = flops_per_token(mcfg, n_params, T);
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
    double loss_sum = 0;
    for (int64_t m = 0; m < accum; ++m) {
      Tensor loss = batch_loss(lm, loader.next(), ckpt_layers);
      loss_sum += loss.item();
      // Each micro-batch's mean loss weighs 1/accum of the step.
      mul(loss, 1.0 / double(accum)).backward();
    }
    const double gnorm = clip > 0 ? clip_grad_norm(params, clip) : grad_norm(params);
    XOMNI_CHECK(std::isfinite(loss_sum) && std::isfinite(gnorm), "step ", step,
                ": the loss or gradient norm is not finite (loss ", loss_sum / double(accum),
                ", grad norm ", gnorm, "); the last checkpoint is intact in ", ckpt_dir.string());
    opt.step();
    ++step;
    ++steps_this_run;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double tokens = double(B * T * accum);
    result.last_loss = loss_sum / double(accum);
    metrics << std::setprecision(9) << "{\"step\": " << step << ", \"loss\": " << result.last_loss
            << ", \"lr\": " << lr << ", \"grad_norm\": " << gnorm
            << ", \"tokens_per_s\": " << tokens / secs
            << ", \"flops_per_s\": " << fpt * tokens / secs << "}\n";
    metrics.flush();
    if (step % log_every == 0 || step == total) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double eta = elapsed / double(steps_this_run) * double(total - step);
      progress.line(step, total, result.last_loss, lr, tokens / secs, eta);
    }
    if (valid_data && ((eval_every > 0 && step % eval_every == 0) || step == total)) {
      result.last_eval_loss = evaluate(lm, *valid_data, T, B, eval_batches);
      metrics << "{\"step\": " << step << ", \"eval_loss\": " << result.last_eval_loss << "}\n";
      metrics.flush();
      std::fprintf(stderr, "%sstep %lld  eval loss %.4f\n", progress.tty ? "\n" : "",
                   static_cast<long long>(step), result.last_eval_loss);
    }
    if (ckpt_every > 0 && step % ckpt_every == 0 && step < total)
      save(ckpt_dir.string(), step, cfg, lm, opt, loader, keep);
    if (stop_requested().load()) {
      result.stopped_by_signal = true;
      break;
    }
  }
  progress.end();
  save(ckpt_dir.string(), step, cfg, lm, opt, loader, keep);
  result.steps_done = step;
  return result;
}

}  // namespace xomni::train
