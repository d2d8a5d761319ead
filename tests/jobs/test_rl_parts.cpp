// The GRPO stage's parts that need no model: the prompt pool (a pure function of seed and round,
// every prompt once per epoch, data-parallel shares that tile the round, positions refused for
// another pool), the best-of-N estimator against closed forms and brute force over subsets, and
// the RL job file's refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "check.h"
#include "rl/best_of_n.h"
#include "rl/prompt_pool.h"
#include "rl/rl_job.h"

namespace xomni {
namespace {

using test::contains;

// "p<i>" (built by insert: GCC 12 warns falsely about `"p" + std::to_string(i)`).
std::string name_of(int i) {
  std::string s = std::to_string(i);
  s.insert(0, "p");
  return s;
}

std::vector<world::Prompt> numbered(int n) {
  std::vector<world::Prompt> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[size_t(i)].text = name_of(i);
  return out;
}

TEST(RlPromptPool, EveryPromptOncePerEpochInASeededOrder) {
  const rl::PromptPool pool(numbered(10), 3, "<test>");
  std::multiset<std::string> epoch0, epoch1;
  std::vector<std::string> order0;
  for (int round = 0; round < 5; ++round)  // 5 rounds of 2: epoch 0
    for (const world::Prompt& p : pool.take(round, 2, 0, 2))
      epoch0.insert(p.text), order0.push_back(p.text);
  for (int round = 5; round < 10; ++round)
    for (const world::Prompt& p : pool.take(round, 2, 0, 2)) epoch1.insert(p.text);
  EXPECT_EQ(epoch0, epoch1);
  EXPECT_EQ(std::set<std::string>(epoch0.begin(), epoch0.end()).size(), 10u);
  std::vector<std::string> identity;
  for (int i = 0; i < 10; ++i) identity.push_back(name_of(i));
  EXPECT_NE(order0, identity) << "not shuffled";
  // Another pool object with the same seed takes the same prompts; another seed other ones.
  const rl::PromptPool again(numbered(10), 3, "<test>"), other(numbered(10), 4, "<test>");
  EXPECT_EQ(again.take(7, 3, 0, 3)[2].text, pool.take(7, 3, 0, 3)[2].text);
  std::vector<std::string> a, b;
  for (const world::Prompt& p : pool.take(0, 10, 0, 10)) a.push_back(p.text);
  for (const world::Prompt& p : other.take(0, 10, 0, 10)) b.push_back(p.text);
  EXPECT_NE(a, b);
}

TEST(RlPromptPool, DataParallelSharesTileTheRound) {
  const rl::PromptPool pool(numbered(7), 1, "<test>");
  for (int round = 0; round < 4; ++round) {
    const std::vector<world::Prompt> whole = pool.take(round, 4, 0, 4);
    std::vector<world::Prompt> shares = pool.take(round, 4, 0, 2);
    for (const world::Prompt& p : pool.take(round, 4, 2, 2)) shares.push_back(p);
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(whole[i].text, shares[i].text) << round;
  }
}

TEST(RlPromptPool, PositionsRoundTripAndRefuseAnotherPool) {
  const rl::PromptPool pool(numbered(7), 1, "prompts.jsonl");
  EXPECT_EQ(pool.restore(pool.state(12)), 12);
  const rl::PromptPool bigger(numbered(8), 1, "prompts.jsonl");
  try {
    bigger.restore(pool.state(12));
    FAIL() << "accepted another pool's position";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "7 prompts with seed 1")) << e.what();
    EXPECT_TRUE(contains(e.what(), "prompts.jsonl")) << e.what();
  }
  EXPECT_THROW(rl::PromptPool({}, 1, "<empty>"), Error);
}

// E[max of a random n-subset] by enumerating every subset.
double brute_force_best(const std::vector<float>& r, int n) {
  const int G = int(r.size());
  double sum = 0;
  int count = 0;
  for (int mask = 0; mask < (1 << G); ++mask) {
    if (__builtin_popcount(unsigned(mask)) != n) continue;
    float best = -1e30f;
    for (int i = 0; i < G; ++i)
      if (mask & (1 << i)) best = std::max(best, r[size_t(i)]);
    sum += best, ++count;
  }
  return sum / count;
}

TEST(RlBestOfN, ExpectedBestMatchesClosedFormsAndEverySubset) {
  EXPECT_DOUBLE_EQ(rl::expected_best_of({0, 1}, 1), 0.5);
  EXPECT_DOUBLE_EQ(rl::expected_best_of({0, 1}, 2), 1.0);
  EXPECT_NEAR(rl::expected_best_of({4, 1, 3, 2}, 2), 20.0 / 6.0, 1e-12);
  const std::vector<float> r = {0.3f, -1.0f, 0.3f, 2.5f, 0.0f, 1.25f, 0.7f, -0.2f};
  for (int n = 1; n <= 8; ++n)
    EXPECT_NEAR(rl::expected_best_of(r, n), brute_force_best(r, n), 1e-9) << n;
  EXPECT_THROW(rl::expected_best_of(r, 0), Error);
  EXPECT_THROW(rl::expected_best_of(r, 9), Error);
}

// An RL job's text: every key the tests vary comes through `extra`.
std::string rl_job_text(const std::string& extra) {
  return "[run]\nstage = \"rl\"\n[model]\nbackbone = \"xomni\"\nvocab_size = 48\nhidden_size = 32\n"
         "intermediate_size = 64\nnum_hidden_layers = 3\nnum_attention_heads = 4\n"
         "num_key_value_heads = 2\nnum_mm_adap_layers = 1\nnum_mm_head_layers = 1\n"
         "image_vocab_size = 16\nmm_vocab_size = 16\ninit_checkpoint = \"sft.h5\"\n"
         "[rl]\nrewards = \"r.toml\"\n[train]\nsteps = 4\nbatch_size = 2\n" +
         extra;
}

std::string refusal(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    rl::parse_rl_job(Config::parse(text, "rl.toml", rl::rl_job_schema("xomni"), overrides));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RlJob, ParsesAndRefusesWhatCannotRun) {
  const rl::RlJob job =
      rl::parse_rl_job(Config::parse(rl_job_text(""), "rl.toml", rl::rl_job_schema("xomni")));
  EXPECT_EQ(job.rl.group_size, 8);
  EXPECT_EQ(job.rl.min_p, 0.03);
  EXPECT_EQ(job.rl.kl_weight, 0.01);
  EXPECT_EQ(job.model.backbone, "xomni");
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"model.init_checkpoint="}),
                       "model.init_checkpoint is not set"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"rl.rewards="}), "rl.rewards is not set"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"parallel.tp=2"}), "data-parallel only"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"parallel.pp=2"}), "parallel.pp"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"run.stage=lm"}), "run.stage = \"rl\""));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"rl.updates_per_batch=3"}),
                       "train.steps = 4 is not a multiple of rl.updates_per_batch = 3"));
  EXPECT_TRUE(
      contains(refusal(rl_job_text(""), {"rl.updates_per_batch=2", "train.checkpoint_every=3"}),
               "train.checkpoint_every = 3 is not a multiple of rl.updates_per_batch = 2"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"rl.group_size=1"}), "rl.group_size"));
  EXPECT_TRUE(contains(refusal(rl_job_text(""), {"rl.clip_eps=1.5"}), "rl.clip_eps"));
}

}  // namespace
}  // namespace xomni
