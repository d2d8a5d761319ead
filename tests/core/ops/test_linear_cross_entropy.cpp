// The fused LM head and cross-entropy against the unfused ops it replaces
// (cross_entropy(linear(h, W), t, ignore, none)): values and both gradients in f32 at 1e-6 over
// chunkings that split rows and vocabulary unevenly, ignored rows, a chunk larger than the
// vocabulary; f64 finite differences; the statistics a vocabulary piece contributes; errors.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"
#include "xomni/core/ops/linear_cross_entropy.h"

using namespace xomni;

namespace {

struct Case {
  Tensor hidden, weight, targets;
};

// N rows of width H, a vocabulary of V, every third row ignored (-100).
Case make_case(int64_t N, int64_t H, int64_t V, uint64_t seed, DType dtype) {
  Generator gen(seed);
  Case c{mul(randn({N, H}, gen, dtype), 1.5), mul(randn({V, H}, gen, dtype), 0.8), Tensor()};
  const std::vector<double> u = rand({N}, gen, DType::f64).to_vector<double>();
  std::vector<int64_t> t(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) t[size_t(i)] = i % 3 == 1 ? -100 : int64_t(u[size_t(i)] * V);
  t[0] = V - 1;  // the last vocabulary row: the last, possibly short, chunk
  c.targets = Tensor::from_vector(t, {N});
  return c;
}

// Fused vs unfused: loss, d hidden and d weight under an upstream gradient that differs per row.
void expect_matches_unfused(int64_t N, int64_t H, int64_t V, int64_t chunk) {
  const std::string what =
      "N=" + std::to_string(N) + " V=" + std::to_string(V) + " chunk=" + std::to_string(chunk);
  const Case c = make_case(N, H, V, uint64_t(N * 1000 + V), DType::f32);
  Generator gen(7);
  const Tensor upstream = rand({N}, gen);
  Tensor h0 = c.hidden.clone().set_requires_grad(true),
         w0 = c.weight.clone().set_requires_grad(true);
  const Tensor ref = cross_entropy(linear(h0, w0), c.targets, -100, Reduction::none);
  sum(mul(ref, upstream)).backward();
  Tensor h1 = c.hidden.clone().set_requires_grad(true),
         w1 = c.weight.clone().set_requires_grad(true);
  const Tensor got = linear_cross_entropy(h1, w1, c.targets, -100, chunk);
  sum(mul(got, upstream)).backward();
  test::expect_close(got, ref, 1e-6, "nll " + what);
  test::expect_close(h1.grad(), h0.grad(), 1e-6, "d hidden " + what);
  test::expect_close(w1.grad(), w0.grad(), 1e-6, "d weight " + what);
  const std::vector<float> g = got.to_vector<float>();
  for (int64_t i = 1; i < N; i += 3) EXPECT_EQ(g[size_t(i)], 0.0f) << "ignored row " << i;
}

}  // namespace

TEST(LinearCrossEntropy, MatchesLinearThenCrossEntropy) {
  expect_matches_unfused(12, 16, 40, 8);     // chunks divide V
  expect_matches_unfused(13, 16, 41, 8);     // neither N nor V a multiple of the chunk
  expect_matches_unfused(7, 24, 30, 64);     // one chunk larger than V
  expect_matches_unfused(10, 8, 50, 1);      // one column at a time
  expect_matches_unfused(300, 32, 1000, 0);  // the chunk picked from N
}

TEST(LinearCrossEntropy, OnlyTheAskedGradient) {
  const Case c = make_case(5, 8, 20, 3, DType::f32);
  Tensor h = c.hidden.clone().set_requires_grad(true);
  sum(linear_cross_entropy(h, c.weight, c.targets, -100, 6)).backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_FALSE(c.weight.grad().defined());
}

TEST(LinearCrossEntropy, ChunkPickedFromRows) {
  EXPECT_EQ(linear_cross_entropy_chunk(256, 50304, DType::f32), 2048);
  EXPECT_EQ(linear_cross_entropy_chunk(256, 50304, DType::f64), 1024);
  EXPECT_EQ(linear_cross_entropy_chunk(1 << 20, 50304, DType::f32), 256);
  EXPECT_EQ(linear_cross_entropy_chunk(4, 100, DType::f32), 100);
  EXPECT_EQ(linear_cross_entropy_chunk(4, 100, DType::f32, 4096), 100);
  EXPECT_EQ(linear_cross_entropy_chunk(4, 100, DType::f32, 7), 7);
}

// Two vocabulary pieces' statistics combine into the whole vocabulary's log-sum-exp and target
// logit (what the vocabulary-parallel version all-reduces).
TEST(LinearCrossEntropy, PiecesCombineIntoTheWhole) {
  const Case c = make_case(9, 8, 30, 5, DType::f64);
  const LinearCrossEntropyStats a =
      linear_cross_entropy_stats(c.hidden, slice(c.weight, 0, 0, 12), c.targets, 0, -100, 5);
  const LinearCrossEntropyStats b =
      linear_cross_entropy_stats(c.hidden, slice(c.weight, 0, 12, 30), c.targets, 12, -100, 4);
  const std::vector<double> ma = a.row_max.to_vector<double>(), mb = b.row_max.to_vector<double>(),
                            sa = a.sum_exp.to_vector<double>(), sb = b.sum_exp.to_vector<double>(),
                            ta = a.target_logit.to_vector<double>(),
                            tb = b.target_logit.to_vector<double>();
  std::vector<double> nll(9);
  const std::vector<int64_t> t = c.targets.to_vector<int64_t>();
  for (size_t r = 0; r < 9; ++r) {
    const double m = std::max(ma[r], mb[r]);
    const double lse = m + std::log(sa[r] * std::exp(ma[r] - m) + sb[r] * std::exp(mb[r] - m));
    nll[r] = t[r] == -100 ? 0.0 : lse - ta[r] - tb[r];
  }
  test::expect_close(Tensor::from_vector(nll, {9}),
                     cross_entropy(linear(c.hidden, c.weight), c.targets, -100, Reduction::none),
                     1e-12, "nll from two pieces");
}

TEST(GradcheckLinearCrossEntropy, HiddenAndWeight) {
  const Tensor t = Tensor::from_vector<int64_t>({2, -100, 0, 10, 1, 7, -100}, {7});
  for (int64_t chunk : {3, 4, 11, 64})
    test::gradcheck(
        [t, chunk](const std::vector<Tensor>& x) {
          return linear_cross_entropy(x[0], x[1], t, -100, chunk);
        },
        {test::uniform_leaf({7, 5}, 1, -2, 2), test::uniform_leaf({11, 5}, 2, -2, 2)});
  // Another ignore index and i32 targets.
  const Tensor t32 = Tensor::from_vector<int32_t>({1, 0, 3}, {3});
  test::gradcheck(
      [t32](const std::vector<Tensor>& x) { return linear_cross_entropy(x[0], x[1], t32, 1, 2); },
      {test::uniform_leaf({3, 4}, 3), test::uniform_leaf({5, 4}, 4)});
}

TEST(LinearCrossEntropy, BadInputIsAClearError) {
  const Tensor h = Tensor::zeros({2, 4}), w = Tensor::zeros({6, 4});
  EXPECT_TRUE(
      test::contains(test::error_message([&] {
                       linear_cross_entropy(h, w, Tensor::from_vector<int64_t>({0, 6}, {2}));
                     }),
                     "target 6 at row 1 is outside [0, 6)"));
  EXPECT_TRUE(test::contains(
      test::error_message([&] {
        linear_cross_entropy(h, Tensor::zeros({6, 3}), Tensor::from_vector<int64_t>({0, 1}, {2}));
      }),
      "must be [N, H], [V, H] and [N]"));
  EXPECT_TRUE(test::contains(
      test::error_message([&] {
        linear_cross_entropy(h, w.to(DType::f64), Tensor::from_vector<int64_t>({0, 1}, {2}));
      }),
      "linear_cross_entropy"));
}
