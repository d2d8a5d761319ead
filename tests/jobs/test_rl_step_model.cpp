// The RL step model (a GRPO round's phases) against its own definition where it is a sum of
// parts, and against closed forms: the update is the LM-stage step over the round's rollouts,
// decoding and scoring scale with the images per rank, the reward workers hide behind logp, the
// log-probability forwards follow the KL weight and the updates per round, and a per-call cost
// adds exactly calls x layers x cost. Bad rl jobs fail naming the key.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "check.h"
#include "plan/step_model.h"

using namespace xomni;

namespace {

const std::string kJobs = XOMNI_JOBS_DIR;

plan::PlanJob rl_job(std::vector<std::string> sets = {}) {
  std::ifstream in(kJobs + "/tiny/xomni_rl.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  sets.insert(sets.begin(), "rl.grid=\"8x8\"");  // the tests' own sets come after it
  return plan::plan_job_from_toml(ss.str(), "xomni_rl", sets);
}

plan::DeviceSpec cpu() {
  plan::DeviceSpec d = plan::device_spec("cpu");
  d.layer_call_overhead_s = 0;
  return d;
}

}  // namespace

TEST(RlStepModel, ReadsTheRoundFromTheJob) {
  const plan::PlanJob job = rl_job();
  ASSERT_TRUE(job.rl.on);
  EXPECT_EQ(job.rl.group_size, 8);
  EXPECT_EQ(job.rl.image_tokens, 64);
  EXPECT_EQ(job.rl.rollout_len(), 24 + 64 + 1);
  EXPECT_EQ(job.model.image_vocab, 512);
  const plan::PlanJob u = plan::rl_update_job(job);
  EXPECT_EQ(u.batch_size, 4 * 8);  // every rollout of the round
  EXPECT_EQ(u.seq_len, 89);
  EXPECT_FALSE(u.rl.on);
}

TEST(RlStepModel, PhasesAddUpAndScaleWithTheImagesPerRank) {
  plan::PlanJob job =
      rl_job({"rl.plan_decode_s_per_image=0.05", "rl.plan_reward_s_per_image=0.01"});
  const plan::DeviceSpec dev = cpu();
  const parallel::Layout one{1, 1, 1, 1}, two{1, 1, 2, 1};
  const plan::RlStepPrediction a = plan::predict_rl_step(job, one, dev);
  EXPECT_EQ(a.rollouts_per_rank, 32);
  EXPECT_DOUBLE_EQ(a.update_s, plan::predict_step(plan::rl_update_job(job), one, dev).step_s);
  EXPECT_DOUBLE_EQ(a.decode_s, 32 * 0.05);
  // 32 images x 10 ms on one worker, behind the reference's forward.
  EXPECT_DOUBLE_EQ(a.reward_wait_s, std::max(0.0, 0.32 - a.logp_s));
  EXPECT_DOUBLE_EQ(a.step_s, a.sample_s + a.decode_s + a.logp_s + a.reward_wait_s + a.update_s);
  // Two ranks on the 2-core node (cores = 2): half the groups each, the same time per group.
  const plan::RlStepPrediction b = plan::predict_rl_step(job, two, dev);
  EXPECT_EQ(b.rollouts_per_rank, 16);
  EXPECT_NEAR(b.sample_s, a.sample_s / 2, 1e-12);
  EXPECT_NEAR(b.logp_s, a.logp_s / 2, 1e-12);
  EXPECT_DOUBLE_EQ(b.decode_s, 16 * 0.05);
  // Four workers: a quarter of the scoring, none of it exposed once logp covers it.
  job.rl.reward_workers = 4;
  EXPECT_DOUBLE_EQ(plan::predict_rl_step(job, one, dev).reward_wait_s,
                   std::max(0.0, 0.08 - a.logp_s));
}

TEST(RlStepModel, LogProbabilityForwardsFollowKlAndUpdates) {
  const plan::DeviceSpec dev = cpu();
  const parallel::Layout one{1, 1, 1, 1};
  const double with_kl = plan::predict_rl_step(rl_job(), one, dev).logp_s;
  EXPECT_GT(with_kl, 0);
  EXPECT_EQ(plan::predict_rl_step(rl_job({"rl.kl_weight=0.0"}), one, dev).logp_s, 0);
  // Several updates: the sampling policy's log-probabilities too, and as many update steps.
  const plan::PlanJob two_updates = rl_job({"rl.updates_per_batch=2"});
  const plan::RlStepPrediction p = plan::predict_rl_step(two_updates, one, dev);
  EXPECT_NEAR(p.logp_s, 2 * with_kl, 1e-12);
  EXPECT_DOUBLE_EQ(p.update_s, 2 * p.update.step_s);
}

// The fixed cost per layer and call: one call per image token while sampling, one per
// log-probability forward, per group.
TEST(RlStepModel, CallOverheadAddsCallsTimesLayers) {
  const plan::PlanJob job = rl_job();
  plan::DeviceSpec dev = cpu();
  const parallel::Layout one{1, 1, 1, 1};
  const plan::RlStepPrediction base = plan::predict_rl_step(job, one, dev);
  dev.layer_call_overhead_s = 1e-4;
  const plan::RlStepPrediction slow = plan::predict_rl_step(job, one, dev);
  const double groups = 4, layers = 6;
  EXPECT_NEAR(slow.sample_s - base.sample_s, groups * 64 * layers * 1e-4, 1e-12);
  EXPECT_NEAR(slow.logp_s - base.logp_s, groups * layers * 1e-4, 1e-12);
}

TEST(RlStepModel, BadJobsNameTheKey) {
  const plan::DeviceSpec dev = cpu();
  std::string m = test::error_message([&] {
    plan::predict_rl_step(rl_job(), parallel::Layout{2, 1, 1, 1}, dev);
  });
  EXPECT_NE(m.find("tp = cp = pp = 1"), std::string::npos) << m;
  m = test::error_message([&] { rl_job({"rl.grid=\"8by8\""}); });
  EXPECT_NE(m.find("rl.grid"), std::string::npos) << m;
  plan::PlanJob no_grid = rl_job();
  no_grid.rl.image_tokens = 0;
  m = test::error_message([&] {
    plan::predict_rl_step(no_grid, parallel::Layout{1, 1, 1, 1}, dev);
  });
  EXPECT_NE(m.find("rl.grid is empty"), std::string::npos) << m;
  m = test::error_message([&] {
    plan::predict_rl_step(rl_job(), parallel::Layout{1, 1, 3, 1}, dev);
  });
  EXPECT_NE(m.find("does not divide train.batch_size=4"), std::string::npos) << m;
  m = test::error_message([&] { rl_job({"rl.plan_decode_s_per_image=-1"}); });
  EXPECT_NE(m.find("rl.plan_decode_s_per_image"), std::string::npos) << m;
}
