// xomni bon: the SFT best-of-N baseline (jobs/rl/best_of_n.h) of an RL job: G samples per prompt
// from a checkpoint, scored by the job's rewards, and the mean best reward for N = 1, 2, 4, ... G.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli.h"
#include "rl/best_of_n.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::vector<std::string> overrides = take_all(args, "--set");
  rl::BestOfNOptions o;
  o.checkpoint = take_option(args, "--checkpoint");
  o.out_dir = take_option(args, "--out");
  o.prompts = parse_int(take_option(args, "--prompts"), "--prompts", 32, 1, int64_t(1) << 30);
  o.samples = parse_int(take_option(args, "--samples"), "--samples", 0, 0, 4096);
  for (const std::string& a : args)
    XOMNI_CHECK(a.rfind("--", 0) != 0, "unknown option '", a, "' (see xomni bon --help)");
  XOMNI_CHECK(args.size() == 1, "expected one RL job file, got ", args.size(), " arguments");
  XOMNI_CHECK(o.samples != 1, "--samples 1 leaves nothing to choose from; use 2 or more");
  const rl::RlJob job = rl::parse_rl_job(rl::load_rl_config(args[0], overrides));
  if (!o.out_dir.empty()) std::filesystem::create_directories(o.out_dir);
  const nlohmann::json r = rl::best_of_n(job, o);
  if (!o.out_dir.empty()) std::ofstream(o.out_dir + "/bon.json") << r.dump(2) << "\n";
  std::printf("best-of-N of %s over %d prompts (%d samples each; rewards %s)\n",
              r["checkpoint"].get<std::string>().c_str(), r["prompts"].get<int>(),
              r["samples_per_prompt"].get<int>(), r["rewards"].get<std::string>().c_str());
  std::printf("%6s  %s\n", "N", "mean best reward");
  for (const auto& row : r["by_n"])
    std::printf("%6d  %.4f\n", row["n"].get<int>(), row["mean_best_reward"].get<double>());
  return 0;
}

const Register reg(
    {"bon", "the SFT best-of-N baseline of an RL job: mean best reward of N samples per prompt",
     "usage: xomni bon RL_JOB.toml [--checkpoint CKPT.h5] [--prompts P] [--samples G]\n"
     "                 [--set key=value ...] [--out DIR]\n\n"
     "Samples G images (rl.group_size) for each of the first P prompts (32) of the job's\n"
     "prompt pool from CKPT (the job's model.init_checkpoint, the SFT model) with the job's\n"
     "sampler, seeds and decoder, scores them with the job's rewards (rl.rewards), and\n"
     "prints the mean over prompts of the expected best reward of N samples, N = 1, 2,\n"
     "4, ... G (the expectation over every N-subset of the G). --out DIR writes bon.json\n"
     "(with every sample's reward) and samples.png. The RL reward curve is drawn against\n"
     "these levels (docs/RL.md).",
     run});

}  // namespace
}  // namespace xomni::cli
