// Autograd engine: accumulation, graph shapes, guards, retained grads, checkpointing.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"

using namespace xomni;

TEST(Autograd, ChainRuleAndLeafAccumulation) {
  Tensor x = Tensor::from_vector<double>({1.0, 2.0, 3.0}, {3});
  x.set_requires_grad();
  // y = sum(x * x + 3x) -> dy/dx = 2x + 3
  Tensor y = sum(add(mul(x, x), mul(x, 3.0)));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
  // A second backward accumulates into the leaf.
  sum(mul(x, 2.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{7, 9, 11}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = Tensor::from_vector<double>({0.5, -1.5}, {2});
  x.set_requires_grad();
  Tensor a = exp(x);
  Tensor b = mul(a, a);  // a used twice
  Tensor c = add(b, a);  // and again
  sum(c).backward();
  const std::vector<double> xv = {0.5, -1.5};
  const std::vector<double> g = x.grad().to_vector<double>();
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(g[i], 2 * std::exp(2 * xv[i]) + std::exp(xv[i]), 1e-12);
}

// A node that no gradient reached (its only consumer gave it none) still releases its inputs:
// y also feeds the loss directly, so x gets y's gradient.
TEST(Autograd, ANodeWithoutGradientReleasesItsInputs) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3}).set_requires_grad();
  Tensor y = mul(x, 2.0);
  Tensor n = mul(y, 3.0);
  Tensor blocked = record(n.detach(), "blocker", {n}, [](const Tensor&, const std::vector<bool>&) {
    return std::vector<Tensor>{Tensor()};
  });
  add(sum(blocked), sum(y)).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));
}

TEST(Autograd, NoGradGuardAndDetach) {
  Tensor x = Tensor::ones({2}, DType::f64);
  x.set_requires_grad();
  {
    NoGradGuard guard;
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
  }
  EXPECT_TRUE(mul(x, 2.0).requires_grad());
  Tensor d = mul(x, 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor z = sum(mul(d, x));  // gradient flows only through x
  z.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2}));
  EXPECT_THROW(sum(d).backward(), Error);
}

TEST(Autograd, RetainGradOnIntermediate) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad();
  Tensor h = mul(x, 3.0);
  h.retain_grad();
  Tensor y = sum(mul(h, h));
  y.backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{6, 12}));  // 2h
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{18, 36}));
  Tensor other = mul(x, 2.0);
  sum(other).backward();
  EXPECT_FALSE(other.grad().defined());  // not retained
}

TEST(Autograd, BroadcastGradientsReduceToInputShape) {
  Tensor a = test::uniform({3, 1, 4}, 1);
  Tensor b = test::uniform({2, 1}, 2);
  a.set_requires_grad();
  b.set_requires_grad();
  sum(mul(a, b)).backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 1, 4}));
  EXPECT_EQ(b.grad().shape(), (Shape{2, 1}));
  // d/db sum_{i,j,k} a[i,0,k] b[j,0] = sum(a)
  const double sa = sum(a.detach()).item();
  for (double v : b.grad().to_vector<double>()) EXPECT_NEAR(v, sa, 1e-12);
}

TEST(Autograd, CheckpointMatchesPlainBackward) {
  Tensor w1 = test::uniform({8, 6}, 3), w2 = test::uniform({6, 8}, 4);
  Tensor x = test::uniform({5, 6}, 5);
  w1.set_requires_grad();
  w2.set_requires_grad();
  x.set_requires_grad();
  auto block = [&](const std::vector<Tensor>& in) { return linear(gelu(linear(in[0], w1)), w2); };
  sum(tanh(block({x}))).backward();
  const Tensor gx = x.grad(), g1 = w1.grad(), g2 = w2.grad();
  x.zero_grad(), w1.zero_grad(), w2.zero_grad();

  Tensor out = checkpoint(block, {x});
  EXPECT_TRUE(out.requires_grad());
  EXPECT_EQ(out.grad_fn()->name(), "checkpoint");
  sum(tanh(out)).backward();
  test::expect_close(x.grad(), gx, 1e-14, "checkpoint dx");
  test::expect_close(w1.grad(), g1, 1e-14, "checkpoint dw1");
  test::expect_close(w2.grad(), g2, 1e-14, "checkpoint dw2");
}

TEST(Autograd, CheckpointRecomputesInBackward) {
  int calls = 0;
  Tensor x = test::uniform({4}, 6);
  x.set_requires_grad();
  auto block = [&](const std::vector<Tensor>& in) {
    ++calls;
    return exp(in[0]);
  };
  Tensor y = checkpoint(block, {x});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(y.grad_fn()->inputs().size(), 1u);  // only the input is kept, not exp's output
  sum(y).backward();
  EXPECT_EQ(calls, 2);
  test::expect_close(x.grad(), exp(x.detach()), 1e-15, "d exp");
}

TEST(Autograd, BackwardNeedsGradForNonScalar) {
  Tensor x = Tensor::ones({3}, DType::f64);
  x.set_requires_grad();
  Tensor y = mul(x, 2.0);
  EXPECT_THROW(y.backward(), Error);
  y.backward(Tensor::full({3}, 0.5, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
}

TEST(Autograd, ViewGradientsLandInTheRightPlace) {
  Tensor x = test::uniform({4, 6}, 9);
  x.set_requires_grad();
  Tensor s = slice(transpose(x, 0, 1), 0, 1, 6, 2);  // rows 1,3,5 of x^T
  sum(mul(s, 2.0)).backward();
  std::vector<double> g = x.grad().to_vector<double>();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(g[size_t(i * 6 + j)], (j % 2 == 1) ? 2.0 : 0.0);
}
