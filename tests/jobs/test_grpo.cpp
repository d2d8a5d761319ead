// The GRPO pieces (jobs/rl/grpo.h): group advantages and the clipped loss with its k3 KL term
// against PyTorch (tests/fixtures/golden/make_grpo_fixtures.py), the ratio-1 closed form, input
// checks, and a toy policy that GRPO must teach a fixed pattern.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "check.h"
#include "rl/grpo.h"
#include "xomni/core/nn/optim.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/ops/sampling.h"
#include "xomni/core/tensor/random.h"

namespace xomni {
namespace {

using rl::GrpoOptions;
using rl::GrpoTerms;
using test::fixture_get;

const test::Fixture& fixture() {
  static const test::Fixture fx = test::load_fixture("grpo");
  return fx;
}

double relative_error(double actual, double expected) {
  return std::abs(actual - expected) / std::max(std::abs(expected), 1e-12);
}

TEST(GrpoAdvantages, MatchTorch) {
  for (const std::string name : {"adv4", "adv2"}) {
    SCOPED_TRACE(name);
    const test::Fixture& fx = fixture();
    const std::vector<float> rewards = fixture_get(fx, name + ".rewards").to_vector<float>();
    const int64_t group = fixture_get(fx, name + ".group_size").to_vector<int64_t>()[0];
    const rl::GroupAdvantages got = rl::group_advantages(rewards, group);
    const Tensor adv = Tensor::from_vector(got.advantages, {int64_t(got.advantages.size())});
    test::expect_close(adv, fixture_get(fx, name + ".out"), 1e-5, name + " advantages");
    EXPECT_EQ(got.zero_std_groups, fixture_get(fx, name + ".zero_std").to_vector<int64_t>()[0]);
  }
}

TEST(GrpoAdvantages, EqualGroupsAreZeroAndCounted) {
  // Two groups of 3: the first all equal (even at a value whose mean rounds), the second not.
  const rl::GroupAdvantages got = rl::group_advantages({0.1f, 0.1f, 0.1f, 1.f, 2.f, 3.f}, 3);
  EXPECT_EQ(got.zero_std_groups, 1);
  EXPECT_EQ(got.advantages[0], 0.f);
  EXPECT_EQ(got.advantages[2], 0.f);
  // Unbiased std of {1, 2, 3} is 1: advantages -1, 0, 1 (up to eps).
  EXPECT_NEAR(got.advantages[3], -1.0, 1e-5);
  EXPECT_NEAR(got.advantages[4], 0.0, 1e-7);
  EXPECT_NEAR(got.advantages[5], 1.0, 1e-5);
}

TEST(GrpoAdvantages, RefusesBadGroups) {
  EXPECT_TRUE(test::contains(test::error_message([] {
                               rl::group_advantages({1.f, 2.f}, 1);
                             }),
                             "at least 2 rollouts"));
  EXPECT_TRUE(test::contains(test::error_message([] {
                               rl::group_advantages({1.f, 2.f, 3.f}, 2);
                             }),
                             "groups of 2"));
  EXPECT_TRUE(test::contains(test::error_message([] {
                               rl::group_advantages({1.f, std::nanf("")}, 2);
                             }),
                             "finite"));
}

struct LossCase {
  Tensor logp, logp_old, ref_logp, advantages, mask;
  GrpoOptions options;
  double token_count = 0;
};

LossCase load_case(const std::string& name) {
  const test::Fixture& fx = fixture();
  LossCase c;
  c.logp = fixture_get(fx, name + ".logp").clone();
  c.logp_old = fixture_get(fx, name + ".logp_old");
  c.ref_logp = fixture_get(fx, name + ".ref_logp");
  c.advantages = fixture_get(fx, name + ".advantages");
  c.mask = fixture_get(fx, name + ".mask");
  const std::vector<double> o = fixture_get(fx, name + ".options").to_vector<double>();
  c.options.clip_eps = o[0];
  c.options.kl_weight = o[1];
  c.options.log_ratio_clamp = o[2];
  c.token_count = o[3];
  return c;
}

GrpoTerms run_case(LossCase& c) {
  c.logp = c.logp.detach().set_requires_grad(true);
  GrpoTerms terms =
      rl::grpo_loss(c.logp, c.logp_old, c.ref_logp, c.advantages, c.mask, c.token_count, c.options);
  terms.loss.backward();
  return terms;
}

void expect_matches_fixture(const std::string& name, const GrpoTerms& terms, const Tensor& logp) {
  const test::Fixture& fx = fixture();
  EXPECT_EQ(terms.loss.dim(), 0);
  EXPECT_LE(relative_error(terms.loss.item(), fixture_get(fx, name + ".loss").item()), 1e-5)
      << name << ": loss " << terms.loss.item() << " vs torch "
      << fixture_get(fx, name + ".loss").item();
  test::expect_close(logp.grad(), fixture_get(fx, name + ".glogp"), 1e-5, name + " d loss/d logp");
  const std::vector<double> stats = fixture_get(fx, name + ".stats").to_vector<double>();
  EXPECT_LE(relative_error(terms.policy_sum, stats[0]), 1e-5) << name << " policy_sum";
  EXPECT_LE(relative_error(terms.kl_sum, stats[1]), 1e-5) << name << " kl_sum";
  EXPECT_EQ(terms.clipped, stats[2]) << name << " clipped";
  EXPECT_EQ(terms.tokens, stats[3]) << name << " tokens";
}

TEST(GrpoLoss, MatchesTorch) {
  for (const std::string name : {"main", "clamp"}) {
    SCOPED_TRACE(name);
    LossCase c = load_case(name);
    const GrpoTerms terms = run_case(c);
    expect_matches_fixture(name, terms, c.logp);
  }
}

// Masked tokens are padding: whatever they hold (inf, NaN) gives no value and no gradient.
TEST(GrpoLoss, MaskedEntriesMayHoldNonFiniteValues) {
  LossCase c = load_case("main");
  const std::vector<float> mask = c.mask.to_vector<float>();
  std::vector<float> logp = c.logp.to_vector<float>(), old = c.logp_old.to_vector<float>(),
                     ref = c.ref_logp.to_vector<float>();
  int poisoned = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] != 0) continue;
    logp[i] = -std::numeric_limits<float>::infinity();
    old[i] = std::nanf("");
    ref[i] = std::numeric_limits<float>::infinity();
    ++poisoned;
  }
  ASSERT_GT(poisoned, 0) << "the fixture's main case should mask some tokens";
  c.logp = Tensor::from_vector(logp, c.logp.shape());
  c.logp_old = Tensor::from_vector(old, c.logp.shape());
  c.ref_logp = Tensor::from_vector(ref, c.logp.shape());
  const GrpoTerms terms = run_case(c);
  expect_matches_fixture("main", terms, c.logp);
}

// With logp_old == logp the ratio is 1 and the clip is idle: loss = -sum(A mask) / count +
// w sum(mask kl) / count and d loss / d logp = mask (-A + w (1 - exp(d))) / count,
// d = ref - logp; with ref == logp the KL and its gradient vanish.
TEST(GrpoLoss, RatioOneClosedForm) {
  const int64_t n = 5, length = 7;
  const Tensor logp0 = test::uniform({n, length}, 11, DType::f32, -4.0, -0.1);
  const Tensor shift = test::uniform({n, length}, 12, DType::f32, -1.5, 1.5);
  const Tensor adv = test::uniform({n}, 13, DType::f32, -2.0, 2.0);
  const Tensor mask = Tensor::from_vector(
      [&] {
        std::vector<float> m(size_t(n * length), 1.f);
        for (size_t i = 0; i < m.size(); i += 3) m[i] = 0.f;
        return m;
      }(),
      {n, length});
  const double count = 40;
  const double w = 0.3;
  const std::vector<float> lp = logp0.to_vector<float>(), a = adv.to_vector<float>(),
                           m = mask.to_vector<float>();
  for (const bool same_ref : {true, false}) {
    SCOPED_TRACE(same_ref ? "ref == logp" : "ref != logp");
    const Tensor ref = same_ref ? logp0.clone() : add(logp0, shift).detach();
    const std::vector<float> rf = ref.to_vector<float>();
    Tensor logp = logp0.clone().set_requires_grad(true);
    const GrpoTerms terms =
        rl::grpo_loss(logp, logp0, ref, adv, mask, count, {.clip_eps = 0.2, .kl_weight = w});
    terms.loss.backward();
    double loss = 0, policy = 0, kl_sum = 0;
    std::vector<double> grad(lp.size());
    for (size_t i = 0; i < lp.size(); ++i) {
      const double ai = a[i / size_t(length)], d = double(rf[i]) - double(lp[i]);
      const double kl = std::exp(d) - d - 1;
      policy += -ai * m[i];
      kl_sum += kl * m[i];
      loss += m[i] * (-ai + w * kl) / count;
      grad[i] = m[i] * (-ai + w * (1 - std::exp(d))) / count;
    }
    EXPECT_NEAR(terms.loss.item(), loss, 1e-5 * std::max(1.0, std::abs(loss)));
    EXPECT_NEAR(terms.policy_sum, policy, 1e-4);
    if (same_ref) {
      EXPECT_EQ(terms.kl_sum, 0.0);
    }
    EXPECT_NEAR(terms.kl_sum, kl_sum, 1e-4 * std::max(1.0, kl_sum));
    EXPECT_EQ(terms.clipped, 0.0);
    EXPECT_EQ(terms.tokens, 35.0 - 12.0);  // 35 tokens, every third (12 of them) masked
    test::expect_close(logp.grad(), Tensor::from_vector(grad, {n, length}).to(DType::f32), 1e-5,
                       "closed-form gradient");
  }
}

TEST(GrpoLoss, NoKlTermNeedsNoReference) {
  LossCase c = load_case("main");
  c.options.kl_weight = 0;
  c.logp = c.logp.detach().set_requires_grad(true);
  const GrpoTerms with_ref =
      rl::grpo_loss(c.logp, c.logp_old, c.ref_logp, c.advantages, c.mask, 10, c.options);
  const GrpoTerms without_ref =
      rl::grpo_loss(c.logp, c.logp_old, Tensor(), c.advantages, c.mask, 10, c.options);
  EXPECT_EQ(with_ref.loss.item(), without_ref.loss.item());
  EXPECT_EQ(without_ref.kl_sum, 0.0);
  // The loss is then the policy sum over the count.
  EXPECT_NEAR(without_ref.loss.item(), without_ref.policy_sum / 10, 1e-6);
}

TEST(GrpoLoss, ChecksItsInputs) {
  const Tensor t = Tensor::zeros({2, 3});
  const Tensor adv = Tensor::zeros({2});
  const GrpoOptions opt;
  auto message = [](const std::function<void()>& fn) { return test::error_message(fn); };
  EXPECT_TRUE(test::contains(message([&] {
                               rl::grpo_loss(t, Tensor::zeros({2, 4}), t, adv, t, 6, opt);
                             }),
                             "logp_old has shape [2, 4]"));
  EXPECT_TRUE(
      test::contains(message([&] { rl::grpo_loss(t, t, Tensor(), adv, t, 6, opt); }), "ref_logp"));
  EXPECT_TRUE(test::contains(
      message([&] { rl::grpo_loss(t, t, t, Tensor::zeros({3}), t, 6, opt); }), "advantages"));
  EXPECT_TRUE(
      test::contains(message([&] { rl::grpo_loss(t, t, t, adv, t, 0, opt); }), "token_count"));
  EXPECT_TRUE(test::contains(message([&] {
                               rl::grpo_loss(t, t, t, adv, Tensor::full({2, 3}, 0.5), 6, opt);
                             }),
                             "mask entry 0"));
  EXPECT_TRUE(test::contains(
      message([&] { rl::grpo_loss(t, t, t, adv, t.to(DType::f64), 6, opt); }), "mask is f64"));
  EXPECT_TRUE(test::contains(
      message([&] { rl::grpo_loss(Tensor::zeros({6}), t, t, adv, t, 6, opt); }), "[N, L]"));
}

// ---- a toy RL problem ----
// The policy is a table of logits [L, K]: an independent categorical per position. A rollout
// draws one symbol per position; its reward is the fraction of positions equal to a fixed target.
// One prompt, G rollouts per step, one AdamW update per batch (so logp_old == logp).
constexpr int64_t kLength = 8, kSymbols = 4, kGroup = 8, kSteps = 60;

int64_t target_symbol(int64_t position) {
  return (3 * position + 1) % kSymbols;
}

struct ToyRun {
  double reward_start = 0, reward_end = 0;  // expected reward of the policy (exact)
  double kl_end = 0;                        // mean over positions of KL(policy || reference)
  double sampled_reward_last = 0;           // mean sampled reward of the last step
};

// Expected reward (mean over positions of p(target)) and mean KL(policy || uniform reference).
std::pair<double, double> toy_policy_stats(const Tensor& logits) {
  NoGradGuard no_grad;
  const std::vector<float> p = softmax(logits, 1).to_vector<float>();
  double reward = 0, kl = 0;
  for (int64_t l = 0; l < kLength; ++l) {
    reward += p[size_t(l * kSymbols + target_symbol(l))];
    for (int64_t k = 0; k < kSymbols; ++k) {
      const double pk = p[size_t(l * kSymbols + k)];
      if (pk > 0) kl += pk * std::log(pk * double(kSymbols));
    }
  }
  return {reward / double(kLength), kl / double(kLength)};
}

ToyRun run_toy(double kl_weight, uint64_t seed) {
  Tensor logits = Tensor::zeros({kLength, kSymbols}).set_requires_grad(true);
  const Tensor ref_logprobs = log_softmax(Tensor::zeros({kLength, kSymbols}), 1);
  AdamWOptions adam;
  adam.lr = 0.1;
  adam.weight_decay = 0;
  AdamW opt({{"policy.logits", logits}}, adam);
  Generator gen(seed);
  const GrpoOptions options{.clip_eps = 0.2, .kl_weight = kl_weight};
  ToyRun run;
  run.reward_start = toy_policy_stats(logits).first;
  for (int64_t step = 0; step < kSteps; ++step) {
    Tensor ids;
    {
      NoGradGuard no_grad;
      const Tensor rows =
          reshape(expand(unsqueeze(logits.detach(), 0), {kGroup, kLength, kSymbols}),
                  {kGroup * kLength, kSymbols});
      ids = multinomial(rows, gen);
    }
    const std::vector<int64_t> drawn = ids.to_vector<int64_t>();
    std::vector<float> rewards(kGroup, 0.f), onehot(size_t(kGroup * kLength * kSymbols), 0.f);
    for (int64_t g = 0; g < kGroup; ++g)
      for (int64_t l = 0; l < kLength; ++l) {
        const int64_t s = drawn[size_t(g * kLength + l)];
        onehot[size_t((g * kLength + l) * kSymbols + s)] = 1.f;
        if (s == target_symbol(l)) rewards[size_t(g)] += 1.f / float(kLength);
      }
    const rl::GroupAdvantages adv = rl::group_advantages(rewards, kGroup);
    const Tensor pick = Tensor::from_vector(onehot, {kGroup, kLength, kSymbols});
    const Tensor logp = sum(mul(pick, unsqueeze(log_softmax(logits, 1), 0)), {2});
    const Tensor ref_logp = sum(mul(pick, unsqueeze(ref_logprobs, 0)), {2});
    const GrpoTerms terms =
        rl::grpo_loss(logp, logp.detach(), ref_logp, Tensor::from_vector(adv.advantages, {kGroup}),
                      Tensor::ones({kGroup, kLength}), double(kGroup * kLength), options);
    EXPECT_EQ(terms.clipped, 0.0) << "one update per batch: the ratio is 1";
    opt.zero_grad();
    terms.loss.backward();
    opt.step();
    double mean_reward = 0;
    for (float r : rewards) mean_reward += r / double(kGroup);
    run.sampled_reward_last = mean_reward;
  }
  std::tie(run.reward_end, run.kl_end) = toy_policy_stats(logits);
  return run;
}

TEST(GrpoToy, LearnsThePatternAndTheKlTermHoldsThePolicyBack) {
  const ToyRun free = run_toy(0.0, 2026);
  const ToyRun held = run_toy(0.1, 2026);
  std::printf(
      "toy GRPO, %lld steps of %lld rollouts: expected reward %.3f -> %.3f (last sampled "
      "%.3f), KL to reference %.4f without the KL term; with kl_weight 0.1: reward %.3f "
      "(last sampled %.3f), KL %.4f\n",
      (long long)kSteps, (long long)kGroup, free.reward_start, free.reward_end,
      free.sampled_reward_last, free.kl_end, held.reward_end, held.sampled_reward_last,
      held.kl_end);
  EXPECT_NEAR(free.reward_start, 1.0 / kSymbols, 1e-6);
  EXPECT_GE(free.reward_end, 0.8);
  EXPECT_GE(held.reward_end, 0.8);
  EXPECT_LT(held.kl_end, free.kl_end);
  // Deterministic: the same seed gives the same run.
  const ToyRun again = run_toy(0.1, 2026);
  EXPECT_EQ(again.reward_end, held.reward_end);
  EXPECT_EQ(again.kl_end, held.kl_end);
}

}  // namespace
}  // namespace xomni
