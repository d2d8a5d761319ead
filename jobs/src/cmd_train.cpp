// xomni train <job.toml> [--set key=value ...]: a training stage, the one the job's run.stage
// names (lm: the language model; siglip, vq, decoder: the image codec; rl: GRPO; realism: the
// realism reward's scorer).
#include <cstdio>
#include <new>

#include "cli.h"
#include "codec/codec_stage.h"
#include "lm/lm_stage.h"
#include "realism/realism_stage.h"
#include "rl/rl_stage.h"
#include "xomni/parallel/comm.h"

namespace xomni::cli {
namespace {

// Runs the job; running out of memory names the keys that size what the job allocates.
train::TrainResult run_naming_memory(const Config& cfg) {
  try {
    return train::run_lm_training(cfg);
  } catch (const std::bad_alloc&) {
    const train::LmJob job = train::parse_lm_job(cfg);
    const train::LoopOptions& l = job.trainer.loop;
    throw Error(cfg.source() + ": out of memory: the model and its batches do not fit (" +
                "train.batch_size = " + std::to_string(l.batch_size) +
                ", train.seq_len = " + std::to_string(l.seq_len) +
                ", model.vocab_size = " + std::to_string(job.model.dims.vocab_size) +
                ", model.num_hidden_layers = " + std::to_string(job.model.dims.num_hidden_layers) +
                "); lower train.batch_size or train.seq_len (raising train.grad_accum keeps the "
                "tokens per step), or spread the model over more ranks ([parallel])");
  }
}

// The result line and exit status of a finished (or signalled) run, on rank 0.
int report(const train::TrainResult& r) {
  if (parallel::world_rank() != 0)
    return r.stopped_by_signal ? train::kExitStoppedWithCheckpoint : 0;
  if (r.already_complete) return 0;  // the trainer said so; there is no loss to report
  std::printf("run %s: %lld steps, final training loss %.4f", r.run_dir.c_str(),
              static_cast<long long>(r.steps_done), r.last_loss);
  if (r.last_eval_loss >= 0) std::printf(", validation loss %.4f", r.last_eval_loss);
  std::printf("\n");
  if (r.stopped_by_signal) {
    std::printf(
        "stopped by a signal after saving a checkpoint; rerun the same command to resume\n");
    return train::kExitStoppedWithCheckpoint;
  }
  return 0;
}

// A stage whose job file has a schema of its own (rl, realism): the checked config, printed with
// --print-config, or the job run (the parse checks the job either way, so what prints would run).
template <class Parse, class Train>
int run_stage(const Config& cfg, bool print_config, Parse parse, Train train_job) {
  const auto job = parse(cfg);
  if (print_config) {
    if (parallel::world_rank() == 0) std::printf("%s", cfg.to_toml().c_str());
    return 0;
  }
  train::install_stop_signal_handlers();
  return report(train_job(job));
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  std::vector<std::string> overrides = take_all(args, "--set");
  // --profile N is train.profile_steps = N, after any --set of it.
  for (const std::string& n : take_all(args, "--profile"))
    overrides.push_back("train.profile_steps=" + n);
  const bool print_config = take_flag(args, "--print-config");
  for (const std::string& a : args)
    XOMNI_CHECK(a.rfind("--", 0) != 0, "unknown option '", a,
                "' (xomni train takes JOB.toml, --set key=value, --profile N and --print-config)");
  XOMNI_CHECK(args.size() == 1, "expected one job file, got ", args.size(), " arguments");
  const std::string stage = codec::peek_stage(Config::read_text(args[0]), args[0], overrides);
  if (realism::is_realism_stage(stage))
    return run_stage(realism::load_realism_config(args[0], overrides), print_config,
                     realism::parse_realism_job,
                     [](const realism::RealismJob& j) { return realism::run_realism_training(j); });
  if (stage == "rl")
    return run_stage(rl::load_rl_config(args[0], overrides), print_config, rl::parse_rl_job,
                     [](const rl::RlJob& j) { return rl::run_rl_training(j); });
  const bool is_codec = codec::is_codec_stage(stage);
  XOMNI_CHECK(is_codec || stage == "lm", args[0], ": run.stage = \"", stage,
              "\" is not a stage (lm, siglip, vq, decoder, rl or realism)");
  const Config cfg = is_codec ? codec::load_codec_config(args[0], overrides)
                              : train::load_lm_config(args[0], overrides);
  if (print_config) {  // the effective job: every field, defaults filled, overrides applied
    // The job-level checks too, so what prints would run.
    if (is_codec)
      codec::parse_codec_job(cfg);
    else
      train::parse_lm_job(cfg);
    if (parallel::world_rank() == 0) std::printf("%s", cfg.to_toml().c_str());
    return 0;
  }
  train::install_stop_signal_handlers();
  return report(is_codec ? codec::run_codec_training(codec::parse_codec_job(cfg))
                         : run_naming_memory(cfg));
}

const Register reg(
    {"train", "run a training stage (language model, image codec, GRPO) from a TOML job file",
     "usage: xomni train JOB.toml [--set key=value ...] [--profile N] [--print-config]\n\n"
     "--profile N times every op of N steps after one warm-up step (train.profile_steps):\n"
     "a table on stderr, and per rank run.dir/run.name/profile/ops-rank<r>.txt and a\n"
     "Chrome trace trace-rank<r>.json (chrome://tracing, ui.perfetto.dev).\n\n"
     "--print-config prints the effective job (every field, defaults filled in, the\n"
     "overrides applied, checked) as TOML and exits without training.\n\n"
     "run.stage picks the stage: lm (default), the image codec's siglip, vq and\n"
     "decoder (docs/CODEC.md), rl: GRPO on the decoded images (docs/RL.md), or\n"
     "realism: the realism reward's scorer (docs/REALISM.md).\n\n"
     "Writes run.dir/run.name/{config.toml,metrics.jsonl,checkpoints/}. Rerunning the\n"
     "same job resumes from the newest valid checkpoint. SIGINT, SIGTERM or SIGUSR1\n"
     "save a checkpoint and exit with status 3.\n\n"
     "Parallel: `mpirun -np N xomni train JOB.toml` or `srun xomni train JOB.toml`;\n"
     "the [parallel] section sets tp (and dp, derived from N by default).",
     run});

}  // namespace
}  // namespace xomni::cli
