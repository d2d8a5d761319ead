// Sampling helpers and the counter-based generator.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "check.h"
#include "xomni/core/ops/sampling.h"

using namespace xomni;

TEST(Random, PhiloxKnownAnswer) {
  // Known-answer vector of Philox-4x32-10 (Random123 kat_vectors): counter 0, key 0.
  uint32_t out[4];
  philox4x32(0, 0, out);
  EXPECT_EQ(out[0], 0x6627e8d5u);
  EXPECT_EQ(out[1], 0xe169c58du);
  EXPECT_EQ(out[2], 0xbc57ac4cu);
  EXPECT_EQ(out[3], 0x9b00dbd8u);
}

TEST(Random, MomentsAndReproducibility) {
  Generator g(42);
  Tensor n = randn({100000}, g, DType::f64);
  EXPECT_NEAR(mean(n).item(), 0.0, 0.01);
  EXPECT_NEAR(var(n, {0}).item(), 1.0, 0.02);
  Tensor u = rand({100000}, g, DType::f64);
  EXPECT_NEAR(mean(u).item(), 0.5, 0.005);
  Generator a(7), b(7);
  EXPECT_EQ(randn({33}, a).to_vector<float>(), randn({33}, b).to_vector<float>());
  Generator c(8);
  EXPECT_NE(randn({33}, a).to_vector<float>(), randn({33}, c).to_vector<float>());
}

TEST(Sampling, GreedyTopKTopP) {
  Tensor logits = Tensor::from_vector<float>({1, 3, 2, 0, /**/ 5, 1, 1, 4}, {2, 4});
  EXPECT_EQ(greedy(logits).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  std::vector<float> k2 = top_k_filter(logits, 2).to_vector<float>();
  EXPECT_EQ(k2[1], 3.0f);
  EXPECT_EQ(k2[2], 2.0f);
  EXPECT_TRUE(std::isinf(k2[0]) && k2[0] < 0);
  EXPECT_TRUE(std::isinf(k2[3]));
  // Row 0 probs: softmax(1,3,2,0) = .0871 .6439 .2369 .0321; p = 0.7 keeps {1, 2}.
  std::vector<float> p = top_p_filter(logits, 0.7).to_vector<float>();
  EXPECT_EQ(p[1], 3.0f);
  EXPECT_EQ(p[2], 2.0f);
  EXPECT_TRUE(std::isinf(p[0]) && std::isinf(p[3]));
  // p = 0.5 keeps only the top token.
  std::vector<float> p1 = top_p_filter(logits, 0.5).to_vector<float>();
  EXPECT_EQ(p1[1], 3.0f);
  EXPECT_TRUE(std::isinf(p1[2]));
}

TEST(Sampling, MultinomialFollowsSoftmax) {
  Tensor logits =
      Tensor::from_vector<double>({std::log(0.1), std::log(0.6), std::log(0.3)}, {1, 3});
  Tensor rows = expand(logits, {20000, 3}).contiguous();
  Generator g(3);
  std::vector<int64_t> s = multinomial(rows, g).to_vector<int64_t>();
  double counts[3] = {0, 0, 0};
  for (int64_t v : s) counts[v] += 1;
  EXPECT_NEAR(counts[0] / 20000, 0.1, 0.01);
  EXPECT_NEAR(counts[1] / 20000, 0.6, 0.015);
  EXPECT_NEAR(counts[2] / 20000, 0.3, 0.015);
  // Low temperature concentrates on the argmax; temperature 0 is greedy.
  std::vector<int64_t> cold = multinomial(rows, g, 0.05).to_vector<int64_t>();
  int64_t ones = 0;
  for (int64_t v : cold) ones += v == 1;
  EXPECT_GT(ones, 19900);
  EXPECT_EQ(multinomial(logits, g, 0.0).to_vector<int64_t>()[0], 1);
  // Never picks a filtered-out token.
  Tensor filtered = top_k_filter(rows, 1);
  for (int64_t v : multinomial(filtered, g).to_vector<int64_t>()) EXPECT_EQ(v, 1);
}

// ---- min-p, the full sampler and classifier-free guidance (closed forms) ----

namespace {
const float kClosed = std::numeric_limits<float>::lowest();  // an X-Omni mode row's shut column
}  // namespace

TEST(Sampling, MinPKeepsTokensAboveAFractionOfTheTop) {
  // Probabilities .5 .3 .1 .06 .04; min_p .15 keeps p >= .075: the first three.
  Tensor logits = Tensor::from_vector<double>(
      {std::log(.5), std::log(.3), std::log(.1), std::log(.06), std::log(.04)}, {1, 5});
  std::vector<double> y = min_p_filter(logits, 0.15).to_vector<double>();
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(y[i], logits.to_vector<double>()[i]);
  EXPECT_TRUE(std::isinf(y[3]) && y[3] < 0);
  EXPECT_TRUE(std::isinf(y[4]) && y[4] < 0);
  // min_p 0 keeps everything; 1 keeps only the top token; closed columns stay closed.
  EXPECT_FALSE(std::isinf(min_p_filter(logits, 0.0).to_vector<double>()[4]));
  std::vector<double> top = min_p_filter(logits, 1.0).to_vector<double>();
  EXPECT_FALSE(std::isinf(top[0]));
  EXPECT_TRUE(std::isinf(top[1]));
  Tensor shut = Tensor::from_vector<float>({kClosed, 1.0f, kClosed, 0.5f}, {1, 4});
  std::vector<float> s = min_p_filter(shut, 0.0).to_vector<float>();
  EXPECT_TRUE(std::isinf(s[0]) && std::isinf(s[2]));
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[3], 0.5f);
  EXPECT_THROW(min_p_filter(logits, 1.5), Error);
}

TEST(Sampling, SampleFollowsTheFilteredDistribution) {
  // Open probabilities p = .4 .25 .15 .1 .06 .04 and two closed columns (6 and 7).
  const std::vector<double> p = {.4, .25, .15, .1, .06, .04};
  std::vector<float> row;
  for (double v : p) row.push_back(float(std::log(v)));
  row.push_back(kClosed);
  row.push_back(-INFINITY);
  const int64_t n = 40000;
  Tensor rows = expand(Tensor::from_vector<float>(row, {1, 8}), {n, 8}).contiguous();
  // Temperature .5 squares p: q ∝ .16 .0625 .0225 .01 .0036 .0016 (sum .2602), i.e.
  // .615 .240 .086 .038 .014 .006. top-k 5 drops the last; top-p .95 keeps the first four
  // (cumulative .615 .855 .941 .980); min-p .1 (cut .0615) then drops the fourth (.038).
  SamplingOptions o;
  o.temperature = 0.5;
  o.top_k = 5;
  o.top_p = 0.95;
  o.min_p = 0.1;
  Generator g(11);
  std::vector<int64_t> s = sample(rows, o, g).to_vector<int64_t>();
  const double q[3] = {.16, .0625, .0225}, qz = .16 + .0625 + .0225;
  double counts[8] = {};
  for (int64_t v : s) counts[v] += 1;
  for (int c = 3; c < 8; ++c) EXPECT_EQ(counts[c], 0) << "filtered or closed column " << c;
  // Pearson's chi-square over the 3 kept tokens (2 degrees of freedom): P(X > 13.8) = 0.001.
  double chi2 = 0;
  for (int c = 0; c < 3; ++c) {
    const double e = n * q[c] / qz;
    chi2 += (counts[c] - e) * (counts[c] - e) / e;
  }
  EXPECT_LT(chi2, 13.8) << counts[0] << " " << counts[1] << " " << counts[2];
  // The same seed gives the same draws.
  Generator g2(11);
  EXPECT_EQ(sample(rows, o, g2).to_vector<int64_t>(), s);
}

TEST(Sampling, SampleWithoutFiltersMatchesSoftmax) {
  // Plain temperature 1: counts follow p itself (5 degrees of freedom: P(X > 20.5) = 0.001).
  const std::vector<double> p = {.4, .25, .15, .1, .06, .04};
  std::vector<double> row;
  for (double v : p) row.push_back(std::log(v));
  const int64_t n = 40000;
  Tensor rows = expand(Tensor::from_vector<double>(row, {1, 6}), {n, 6}).contiguous();
  Generator g(5);
  std::vector<int64_t> s = sample(rows, SamplingOptions{}, g).to_vector<int64_t>();
  double counts[6] = {};
  for (int64_t v : s) counts[v] += 1;
  double chi2 = 0;
  for (int c = 0; c < 6; ++c) chi2 += (counts[c] - n * p[c]) * (counts[c] - n * p[c]) / (n * p[c]);
  EXPECT_LT(chi2, 20.5);
}

TEST(Sampling, ClosedColumnsAreNeverDrawn) {
  // An enormous temperature flattens the open columns; closed ones (the f32 minimum, which a
  // naive division would bring near 0) must still never come out.
  Tensor rows = expand(Tensor::from_vector<float>({kClosed, 2.0f, kClosed, -1.0f, kClosed}, {1, 5}),
                       {4000, 5})
                    .contiguous();
  SamplingOptions hot;
  hot.temperature = 1e300;
  Generator g(1);
  int64_t ones = 0;
  for (int64_t v : sample(rows, hot, g).to_vector<int64_t>()) {
    ASSERT_TRUE(v == 1 || v == 3) << v;
    ones += v == 1;
  }
  EXPECT_NEAR(ones / 4000.0, 0.5, 0.05);  // uniform over the two open columns (sd .008)
  Tensor all_closed = Tensor::from_vector<float>({kClosed, kClosed}, {1, 2});
  EXPECT_THROW(sample(all_closed, SamplingOptions{}, g), Error);
  Tensor nan = Tensor::from_vector<float>({0.0f, std::nanf("")}, {1, 2});
  EXPECT_THROW(sample(nan, SamplingOptions{}, g), Error);
}

TEST(Sampling, TemperatureZeroIsGreedy) {
  Generator g(9);
  Tensor logits = randn({16, 50}, g);
  SamplingOptions cold;
  cold.temperature = 0;
  cold.top_k = 3;
  cold.min_p = 0.5;
  EXPECT_EQ(sample(logits, cold, g).to_vector<int64_t>(), greedy(logits).to_vector<int64_t>());
  // A tiny positive temperature is greedy in effect, without overflowing the logits.
  SamplingOptions tiny;
  tiny.temperature = 1e-300;
  EXPECT_EQ(sample(logits, tiny, g).to_vector<int64_t>(), greedy(logits).to_vector<int64_t>());
  // Greedy skips closed columns (the minimum is never the argmax while one column is open).
  Tensor shut = Tensor::from_vector<float>({kClosed, -50.0f, kClosed}, {1, 3});
  EXPECT_EQ(sample(shut, cold, g).to_vector<int64_t>()[0], 1);
}

TEST(Sampling, CfgCombineClosedForm) {
  // cond: p = .5 .3 .2 over columns 0..2, column 3 closed; uncond: .2 .3 .4 .1 over all four.
  Tensor cond = Tensor::from_vector<float>(
      {float(std::log(5.0)), float(std::log(3.0)), float(std::log(2.0)), kClosed}, {1, 4});
  Tensor uncond = Tensor::from_vector<float>(
      {float(std::log(2.0)), float(std::log(3.0)), float(std::log(4.0)), float(std::log(1.0))},
      {1, 4});
  const double pc[3] = {.5, .3, .2}, pu[3] = {.2, .3, .4};
  for (double scale : {1.0, 3.0, 0.0}) {
    std::vector<float> y = cfg_combine(cond, uncond, scale).to_vector<float>();
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(y[i], scale * (std::log(pc[i]) - std::log(pu[i])) + std::log(pu[i]), 1e-5)
          << "scale " << scale << " column " << i;
    EXPECT_TRUE(std::isinf(y[3]) && y[3] < 0) << "a column closed in cond stays closed";
  }
  // Guidance 3 moves mass toward what the condition prefers: column 0 wins the argmax.
  EXPECT_EQ(greedy(cfg_combine(cond, uncond, 3.0)).to_vector<int64_t>()[0], 0);
  EXPECT_THROW(cfg_combine(cond, Tensor::zeros({2, 4}), 2.0), Error);
}
