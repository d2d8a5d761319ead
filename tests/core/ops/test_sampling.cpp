// Sampling helpers and the counter-based generator.
#include <gtest/gtest.h>

#include <cmath>

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
