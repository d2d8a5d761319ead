#include "rl/rl_stage.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "codec/image_grid.h"
#include "common/stopwatch.h"
#include "lm/lm_components.h"
#include "rl/grpo.h"
#include "rl/prompt_pool.h"
#include "rl/reward_pool.h"
#include "rl/rollout.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::rl {
namespace {

namespace fs = std::filesystem;
using jobs::Clock;
using jobs::seconds_since;

// One prompt's rollouts on this rank, with what the update needs.
struct Group {
  std::vector<int64_t> prompt_ids;
  Tensor codes;         // [G, L]
  Tensor logp_old;      // [G, L]; undefined with one update per batch (the policy's own, detached)
  Tensor ref_logp;      // [G, L]; undefined without the KL term
  Tensor advantages;    // [G]
  int64_t ticket = -1;  // its rewards in the pool
};

// Per-round numbers, summed on this rank (made means over every rank when logged).
struct RoundStats {
  double rewards = 0, rollouts = 0, groups = 0, zero_std_groups = 0;
  std::vector<double> sub_scores, sub_counts;  // sums and counts of the finite values: a reward
                                               // leaves NaN on prompts of tasks it does not score
  double sample_s = 0, decode_s = 0, logp_s = 0, reward_wait_s = 0;
};

class RlStage final : public train::Stage {
 public:
  RlStage(const RlJob& job, const train::ParallelSetup& par)
      : job_(job), par_(par), pool_(make_prompt_pool(job.rl)) {
    const std::string& src = job.trainer.source;
    const int64_t B = job.trainer.loop.batch_size, dp = par.layout().dp;
    XOMNI_CHECK(B % dp == 0, src, ": train.batch_size = ", B,
                " prompts per rollout batch is not divisible by the data-parallel size dp = ", dp);
    policy_ = train::make_backbone(job.model, job.trainer.run.seed, &par);
    const std::string ref_path =
        job.rl.reference.empty() ? job.model.init_checkpoint : job.rl.reference;
    env_ = load_rollout_env(job, ref_path);
    XOMNI_CHECK(policy_->vocab_size() == env_->model.lm->vocab_size(), src,
                ": the policy ([model]) has ", policy_->vocab_size(), " token ids, the reference ",
                ref_path, " has ", env_->model.lm->vocab_size());
    if (job.rl.kl_weight == 0) env_->model.lm.reset();  // only its data's files were needed
    rewards_ = std::make_unique<RewardPool>(
        RewardPoolOptions{job.rl.rewards, int(job.rl.reward_workers), ""});
    grpo_.clip_eps = job.rl.clip_eps;
    grpo_.kl_weight = job.rl.kl_weight;
  }

  std::vector<nn::ParamInfo> parameters() const override { return policy_->parameter_infos(); }
  const plugins::Backbone& policy() const { return *policy_; }

  train::StepOutput forward_backward(std::vector<parallel::TimelineEvent>*) override {
    if (update_in_round_ == 0) collect_round();
    train::StepOutput out = update();
    if (++update_in_round_ == job_.rl.updates_per_batch) {
      update_in_round_ = 0;
      ++rounds_done_;
    }
    return out;
  }
  bool can_checkpoint() const override { return update_in_round_ == 0; }

  double items_per_step() const override { return double(global_tokens()); }
  double flops_per_step() const override {  // the update's forward and backward passes
    return policy_->flops_per_token(tokens_per_row()) * double(job_.trainer.loop.batch_size) *
           double(job_.rl.group_size) * double(tokens_per_row());
  }
  bool has_evaluation() const override { return false; }
  double evaluate() override { return 0; }
  train::DataPositions data_positions() const override {
    return {{"rl_prompt_pool", pool_.state(rounds_done_)}};
  }
  void restore_data_positions(const train::DataPositions& p) override {
    rounds_done_ = pool_.restore(p.at("rl_prompt_pool"));
    update_in_round_ = 0;
  }

 private:
  int64_t codes_per_image() const { return env_->setup.grid_h * env_->setup.grid_w; }
  int64_t tokens_per_row() const { return 32 + codes_per_image(); }  // a typical caption + image
  int64_t global_tokens() const {
    return job_.trainer.loop.batch_size * job_.rl.group_size * codes_per_image();
  }

  // Samples, decodes and scores this rank's share of the round's prompts; the reward workers
  // score one group while the next is sampled and the reference scores the codes.
  void collect_round() {
    const int64_t B = job_.trainer.loop.batch_size, G = job_.rl.group_size;
    const int64_t per_rank = B / par_.layout().dp, first = par_.coord().dp * per_rank;
    const std::vector<world::Prompt> prompts = pool_.take(rounds_done_, B, first, per_rank);
    const bool grid_due = par_.is_rank0() && job_.rl.image_every > 0 &&
                          (rounds_done_ * job_.rl.updates_per_batch) % job_.rl.image_every == 0;
    std::vector<Image> grid_images;
    groups_.assign(size_t(per_rank), Group{});
    stats_ = RoundStats{};
    stats_.sub_scores.assign(rewards_->sub_score_names().size(), 0.0);
    stats_.sub_counts.assign(stats_.sub_scores.size(), 0.0);
    for (int64_t i = 0; i < per_rank; ++i) {
      const world::Prompt& p = prompts[size_t(i)];
      RolloutGroup r = sample_group(*policy_, env_->setup, p, G,
                                    group_seed(job_.trainer.run.seed, rounds_done_, first + i));
      stats_.sample_s += r.sample_s;
      stats_.decode_s += r.decode_s;
      if (grid_due && i < 4)
        grid_images.insert(grid_images.end(), r.images.begin(), r.images.end());
      Group& g = groups_[size_t(i)];
      g.ticket = rewards_->submit(std::move(r.images), std::vector<std::string>(size_t(G), p.text),
                                  std::vector<std::string>(size_t(G), p.metadata_json),
                                  std::vector<std::string>(size_t(G), p.task));
      g.prompt_ids = std::move(r.prompt_ids);
      g.codes = r.codes;
      const auto t0 = Clock::now();
      NoGradGuard no_grad;
      const double T = job_.rl.temperature;
      if (job_.rl.updates_per_batch > 1)
        g.logp_old = code_log_probs(*policy_, env_->setup.vocab, g.prompt_ids, g.codes, T);
      if (job_.rl.kl_weight > 0)
        g.ref_logp = code_log_probs(*env_->model.lm, env_->setup.vocab, g.prompt_ids, g.codes, T);
      stats_.logp_s += seconds_since(t0);
    }
    std::vector<float> all_rewards;
    for (Group& g : groups_) {
      const auto t0 = Clock::now();
      const plugins::RewardScores s = rewards_->wait(g.ticket);
      stats_.reward_wait_s += seconds_since(t0);
      const GroupAdvantages a = group_advantages(s.scores, G, job_.rl.advantage_eps);
      g.advantages = Tensor::from_vector(a.advantages, {G});
      stats_.zero_std_groups += double(a.zero_std_groups);
      stats_.groups += 1;
      for (size_t k = 0; k < s.scores.size(); ++k) {
        stats_.rewards += s.scores[k];
        stats_.rollouts += 1;
        for (size_t j = 0; j < stats_.sub_scores.size(); ++j) {
          const float v = s.sub_scores[k * stats_.sub_scores.size() + j];
          if (!std::isfinite(v)) continue;
          stats_.sub_scores[j] += v;
          stats_.sub_counts[j] += 1;
        }
      }
      all_rewards.insert(all_rewards.end(), s.scores.begin(), s.scores.end());
    }
    if (grid_due) write_grid(grid_images, prompts, all_rewards);
  }

  void write_grid(const std::vector<Image>& images, const std::vector<world::Prompt>& prompts,
                  const std::vector<float>& rewards) const {
    const fs::path dir = fs::path(job_.trainer.run.dir) / job_.trainer.run.name / "samples";
    fs::create_directories(dir);
    char name[32];
    std::snprintf(name, sizeof name, "step-%08lld",
                  static_cast<long long>(rounds_done_ * job_.rl.updates_per_batch));
    write_png(codec::tile_grid(images), (dir / (std::string(name) + ".png")).string());
    std::ofstream out(dir / (std::string(name) + ".jsonl"));
    const int64_t G = job_.rl.group_size;
    for (size_t i = 0; i < images.size() / size_t(G); ++i) {
      const std::vector<float> r(rewards.begin() + int64_t(i) * G,
                                 rewards.begin() + int64_t(i + 1) * G);
      out << nlohmann::json{{"prompt", prompts[i].text}, {"rewards", r}}.dump() << "\n";
    }
  }

  train::StepOutput update() {
    const auto t0 = Clock::now();
    // Token-mean over the round's codes on every rank (prompts on other grids have other counts).
    double local_tokens = 0;
    for (const Group& g : groups_) local_tokens += double(g.codes.numel());
    const double tokens = train::sum_over_data(local_tokens, par_);
    double loss = 0, policy = 0, kl = 0, clipped = 0, entropy = 0;
    for (const Group& g : groups_) {
      double h = 0;
      const Tensor logp = code_log_probs(*policy_, env_->setup.vocab, g.prompt_ids, g.codes,
                                         job_.rl.temperature, &h);
      const Tensor old = g.logp_old.defined() ? g.logp_old : logp.detach();
      const Tensor mask = Tensor::ones(logp.shape());
      const GrpoTerms t = grpo_loss(logp, old, g.ref_logp, g.advantages, mask, tokens, grpo_);
      t.loss.backward();
      loss += t.loss.item();
      policy += t.policy_sum;
      kl += t.kl_sum;
      clipped += t.clipped;
      entropy += h;
    }
    const double update_s = seconds_since(t0);
    train::StepOutput out;
    out.loss = train::sum_over_data(loss, par_);
    const double rollouts = std::max(1.0, train::sum_over_data(stats_.rollouts, par_));
    const double groups = std::max(1.0, train::sum_over_data(stats_.groups, par_));
    const double dp = double(par_.layout().dp);
    auto add = [&out](std::string name, double v) { out.metrics.emplace_back(std::move(name), v); };
    add("reward", train::sum_over_data(stats_.rewards, par_) / rollouts);
    // A sub-score's mean over the rollouts it scored (NaN, written as null, when it scored none).
    for (size_t j = 0; j < stats_.sub_scores.size(); ++j) {
      const double n = train::sum_over_data(stats_.sub_counts[j], par_);
      add("reward." + rewards_->sub_score_names()[j],
          n > 0 ? train::sum_over_data(stats_.sub_scores[j], par_) / n : NAN);
    }
    add("policy_loss", train::sum_over_data(policy, par_) / tokens);
    add("kl", train::sum_over_data(kl, par_) / tokens);
    add("clip_fraction", train::sum_over_data(clipped, par_) / tokens);
    add("entropy", train::sum_over_data(entropy, par_) / tokens);
    add("zero_std_fraction", train::sum_over_data(stats_.zero_std_groups, par_) / groups);
    // Seconds per rank, the mean over the data-parallel ranks; a round's times are logged on its
    // first update only (0 on the others).
    const bool first = update_in_round_ == 0;
    add("time_sample_s", first ? train::sum_over_data(stats_.sample_s, par_) / dp : 0);
    add("time_decode_s", first ? train::sum_over_data(stats_.decode_s, par_) / dp : 0);
    add("time_logp_s", first ? train::sum_over_data(stats_.logp_s, par_) / dp : 0);
    add("time_reward_wait_s", first ? train::sum_over_data(stats_.reward_wait_s, par_) / dp : 0);
    add("time_update_s", train::sum_over_data(update_s, par_) / dp);
    return out;
  }

  const RlJob& job_;
  const train::ParallelSetup& par_;
  PromptPool pool_;
  std::unique_ptr<plugins::Backbone> policy_;
  std::unique_ptr<RolloutEnv> env_;  // the reference model and the rollouts' tokenizers/decoder
  std::unique_ptr<RewardPool> rewards_;
  GrpoOptions grpo_;
  std::vector<Group> groups_;
  RoundStats stats_;
  int64_t rounds_done_ = 0, update_in_round_ = 0;
};

}  // namespace

train::TrainResult run_rl_training(const RlJob& job, int64_t max_steps_this_run,
                                   const parallel::MpiCommunicator* world) {
  const train::ParallelSetup par = train::setup_parallel(job.trainer.parallel, job.model.dims,
                                                         job.trainer.source + " [parallel]", world);
  RlStage stage(job, par);
  train::StartOptions start;
  start.init_checkpoint = job.model.init_checkpoint;
  start.init_source = [&stage](const std::string& name, const std::set<std::string>& source) {
    return stage.policy().init_source(name, source);
  };
  return train::run_training(stage, job.trainer, start, par, max_steps_this_run);
}

}  // namespace xomni::rl
