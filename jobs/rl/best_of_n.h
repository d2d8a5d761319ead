#pragma once
// The SFT best-of-N baseline of the paper's Figure 2: G samples per prompt from a checkpoint,
// scored by the RL job's reward set; for N = 1, 2, 4, ..., G the expected best reward of N samples,
// averaged over the prompts. The expectation over every N-subset of the G samples (an unbiased
// estimate of best-of-N) is used rather than the first N samples, which would be noisier.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rl/rl_job.h"

namespace xomni::rl {

// E[max of a uniformly random n-subset of `rewards`]; n in [1, rewards.size()].
double expected_best_of(std::vector<float> rewards, int64_t n);

struct BestOfNOptions {
  std::string checkpoint;  // "": the job's model.init_checkpoint
  int64_t prompts = 32;    // the first prompts of the job's pool, in the order its round 0 takes
  int64_t samples = 0;     // G (0: the job's rl.group_size)
  std::string out_dir;     // bon.json and samples.png when set
};

// Runs on one process; the rewards are scored by the job's reward set in its worker processes.
nlohmann::json best_of_n(const RlJob& job, const BestOfNOptions& options);

}  // namespace xomni::rl
