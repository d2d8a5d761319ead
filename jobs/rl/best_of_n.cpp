#include "rl/best_of_n.h"

#include <algorithm>
#include <cmath>

#include "codec/image_grid.h"
#include "rl/prompt_pool.h"
#include "rl/reward_pool.h"
#include "rl/rollout.h"
#include "xomni/core/io/image_io.h"

namespace xomni::rl {

double expected_best_of(std::vector<float> rewards, int64_t n) {
  const int64_t G = int64_t(rewards.size());
  XOMNI_CHECK(n >= 1 && n <= G, "expected_best_of: n = ", n, " outside [1, ", G, "]");
  std::sort(rewards.begin(), rewards.end());
  // The i-th smallest (1-based) is the best of an n-subset in C(i-1, n-1) of the C(G, n) subsets.
  auto log_choose = [](int64_t a, int64_t b) {
    return std::lgamma(double(a + 1)) - std::lgamma(double(b + 1)) - std::lgamma(double(a - b + 1));
  };
  double e = 0;
  for (int64_t i = n; i <= G; ++i)
    e += double(rewards[size_t(i - 1)]) * std::exp(log_choose(i - 1, n - 1) - log_choose(G, n));
  return e;
}

nlohmann::json best_of_n(const RlJob& job, const BestOfNOptions& o) {
  const std::string checkpoint = o.checkpoint.empty() ? job.model.init_checkpoint : o.checkpoint;
  const int64_t G = o.samples > 0 ? o.samples : job.rl.group_size;
  XOMNI_CHECK(o.prompts >= 1, "best-of-N: --prompts must be at least 1");
  const std::unique_ptr<RolloutEnv> env = load_rollout_env(job, checkpoint);
  const std::vector<world::Prompt> prompts =
      make_prompt_pool(job.rl).take(0, o.prompts, 0, o.prompts);
  RewardPool rewards(RewardPoolOptions{job.rl.rewards, int(job.rl.reward_workers), ""});
  std::vector<int64_t> tickets;
  std::vector<Image> first_images;
  double sample_s = 0, decode_s = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    // The seeds of the RL job's first round, so N = G here is that round's batch.
    RolloutGroup r = sample_group(*env->model.lm, env->setup, prompts[i], G,
                                  group_seed(job.trainer.run.seed, 0, int64_t(i)));
    sample_s += r.sample_s, decode_s += r.decode_s;
    if (i < 4) first_images.insert(first_images.end(), r.images.begin(), r.images.end());
    tickets.push_back(rewards.submit(std::move(r.images),
                                     std::vector<std::string>(size_t(G), prompts[i].text),
                                     std::vector<std::string>(size_t(G), prompts[i].metadata_json),
                                     std::vector<std::string>(size_t(G), prompts[i].task)));
  }
  std::vector<int64_t> ns;
  for (int64_t n = 1; n < G; n *= 2) ns.push_back(n);
  ns.push_back(G);
  std::vector<double> best(ns.size(), 0.0);
  nlohmann::json per_prompt = nlohmann::json::array();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<float> r = rewards.wait(tickets[i]).scores;
    for (size_t k = 0; k < ns.size(); ++k) best[k] += expected_best_of(r, ns[k]);
    per_prompt.push_back(
        {{"prompt", prompts[i].text}, {"category", prompts[i].category}, {"rewards", r}});
  }
  nlohmann::json by_n = nlohmann::json::array();
  for (size_t k = 0; k < ns.size(); ++k)
    by_n.push_back({{"n", ns[k]}, {"mean_best_reward", best[k] / double(prompts.size())}});
  nlohmann::json out = {{"checkpoint", checkpoint},
                        {"rewards", job.rl.rewards},
                        {"prompts", prompts.size()},
                        {"samples_per_prompt", G},
                        {"estimator", "expected max over every N-subset of the G samples"},
                        {"by_n", by_n},
                        {"sample_s", sample_s},
                        {"decode_s", decode_s},
                        {"per_prompt", per_prompt}};
  if (!o.out_dir.empty()) write_png(codec::tile_grid(first_images), o.out_dir + "/samples.png");
  return out;
}

}  // namespace xomni::rl
