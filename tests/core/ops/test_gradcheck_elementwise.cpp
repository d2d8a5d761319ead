// Finite-difference gradient checks (f64, test::gradcheck: central differences, 1e-6 of the
// gradient's scale) for the elementwise ops, with broadcasting, 0-d operands and non-contiguous
// inputs (transposed and strided views of the contiguous leaves that gradcheck perturbs).
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

namespace {
// Entries with |x| in [lo, hi] and alternating-ish random signs: clear of a kink at 0.
Tensor away(const Shape& s, uint64_t seed, double lo, double hi) {
  Tensor m = test::uniform(s, seed, DType::f64, lo, hi);
  std::vector<double> v = m.to_vector<double>();
  std::vector<double> sign = test::uniform(s, seed + 1000).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) v[i] = sign[i] < 0 ? -v[i] : v[i];
  return Tensor::from_vector(v, s).set_requires_grad(true);
}
Tensor mask(const Shape& s, uint64_t seed) {
  std::vector<double> r = test::uniform(s, seed).to_vector<double>();
  std::vector<uint8_t> m(r.size());
  for (size_t i = 0; i < r.size(); ++i) m[i] = r[i] > 0 ? 1 : 0;
  return Tensor::from_vector(m, s);
}
}  // namespace

TEST(GradcheckElementwise, BinaryOps) {
  using BinOp = Tensor (*)(const Tensor&, const Tensor&);
  const BinOp ops[] = {[](const Tensor& a, const Tensor& b) { return add(a, b); },
                       [](const Tensor& a, const Tensor& b) { return sub(a, b); },
                       [](const Tensor& a, const Tensor& b) { return mul(a, b); },
                       [](const Tensor& a, const Tensor& b) { return div(a, b); }};
  for (BinOp f : ops) {
    // The divisor stays in [0.5, 1.5] (away from zero) for every op, which costs nothing.
    test::gradcheck([f](const V& x) { return f(x[0], x[1]); },
                    {uniform_leaf({3, 4}, 1), uniform_leaf({3, 4}, 2, 0.5, 1.5)});
    test::gradcheck([f](const V& x) { return f(x[0], x[1]); },
                    {uniform_leaf({2, 1, 4}, 3), uniform_leaf({3, 1}, 4, 0.5, 1.5)});
    test::gradcheck([f](const V& x) { return f(x[0], x[1]); },
                    {uniform_leaf({5}, 5), uniform_leaf({}, 6, 0.5, 1.5)});
    test::gradcheck([f](const V& x) { return f(x[0], x[1]); },
                    {uniform_leaf({}, 7), uniform_leaf({2, 3}, 8, 0.5, 1.5)});
    test::gradcheck([f](const V& x) { return f(swap_last2(x[0]), x[1]); },
                    {uniform_leaf({4, 3}, 9), uniform_leaf({1, 4}, 10, 0.5, 1.5)});
    test::gradcheck([f](const V& x) { return f(x[0], slice(x[1], 1, 1, 8, 2)); },
                    {uniform_leaf({3, 4}, 11), uniform_leaf({3, 8}, 12, 0.5, 1.5)});
    // Both operands from the same tensor: gradients from the two uses add up.
    test::gradcheck([f](const V& x) { return f(x[0], add(mul(x[0], x[0]), 2.0)); },
                    {uniform_leaf({3, 2}, 13)});
  }
}

TEST(GradcheckElementwise, ScalarOps) {
  test::gradcheck([](const V& x) { return add(x[0], 0.75); }, {uniform_leaf({3, 4}, 1)});
  test::gradcheck([](const V& x) { return mul(swap_last2(x[0]), -1.25); },
                  {uniform_leaf({3, 4}, 2)});
  test::gradcheck([](const V& x) { return neg(x[0]); }, {uniform_leaf({3, 4}, 3)});
}

TEST(GradcheckElementwise, UnaryOps) {
  using UnOp = Tensor (*)(const Tensor&);
  struct Case {
    UnOp f;
    double lo, hi;
  };
  const Case cs[] = {
      {[](const Tensor& a) { return exp(a); }, -2, 2},
      {[](const Tensor& a) { return log(a); }, 0.2, 3},
      {[](const Tensor& a) { return sqrt(a); }, 0.2, 3},
      {[](const Tensor& a) { return rsqrt(a); }, 0.2, 3},
      {[](const Tensor& a) { return tanh(a); }, -3, 3},
      {[](const Tensor& a) { return sigmoid(a); }, -5, 5},
      {[](const Tensor& a) { return silu(a); }, -5, 5},
      {[](const Tensor& a) { return gelu(a, GeluApprox::none); }, -4, 4},
      {[](const Tensor& a) { return gelu(a, GeluApprox::tanh); }, -4, 4},
      {[](const Tensor& a) { return pow(a, 2.0); }, -2, 2},
      {[](const Tensor& a) { return pow(a, 3.0); }, -2, 2},
      {[](const Tensor& a) { return pow(a, 0.5); }, 0.2, 3},
      {[](const Tensor& a) { return pow(a, -1.5); }, 0.2, 3},
  };
  uint64_t seed = 100;
  for (const Case& c : cs) {
    UnOp f = c.f;
    test::gradcheck([f](const V& x) { return f(x[0]); },
                    {uniform_leaf({3, 5}, seed++, c.lo, c.hi)});
    test::gradcheck([f](const V& x) { return f(swap_last2(x[0])); },
                    {uniform_leaf({5, 3}, seed++, c.lo, c.hi)});
  }
}

TEST(GradcheckElementwise, KinkedOpsAwayFromKinks) {
  test::gradcheck([](const V& x) { return relu(x[0]); }, {away({4, 5}, 1, 0.05, 1)});
  test::gradcheck([](const V& x) { return relu(swap_last2(x[0])); }, {away({5, 4}, 2, 0.05, 1)});
  // clamp(-0.5, 0.7): |x| in [0.05, 0.4] or [0.6, 0.65] / [0.8, 1.5] keeps clear of both bounds.
  Tensor x = Tensor::from_vector<double>(
      {-1.5, -0.9, -0.6, -0.45, -0.2, -0.05, 0.05, 0.3, 0.6, 0.65, 0.8, 1.4}, {3, 4});
  x.set_requires_grad(true);
  test::gradcheck([](const V& v) { return clamp(v[0], -0.5, 0.7); }, {x});
  test::gradcheck([](const V& v) { return clamp(swap_last2(v[0]), -0.2, std::nullopt); },
                  {away({4, 3}, 3, 0.3, 1)});
  test::gradcheck([](const V& v) { return clamp(v[0], std::nullopt, 0.1); },
                  {away({4, 3}, 4, 0.2, 1)});
}

TEST(GradcheckElementwise, WhereAndMaskedFill) {
  const Tensor c1 = mask({3, 4}, 1), c2 = mask({3, 1}, 2), m1 = mask({2, 3, 4}, 3),
               m2 = mask({1, 4}, 4);
  test::gradcheck([c1](const V& x) { return where(c1, x[0], x[1]); },
                  {uniform_leaf({3, 4}, 5), uniform_leaf({4}, 6)});
  test::gradcheck([c2](const V& x) { return where(c2, x[0], x[1]); },
                  {uniform_leaf({2, 3, 4}, 7), uniform_leaf({2, 1, 4}, 8)});
  test::gradcheck([c1](const V& x) { return where(c1, swap_last2(x[0]), x[1]); },
                  {uniform_leaf({4, 3}, 9), uniform_leaf({}, 10)});
  test::gradcheck([m1](const V& x) { return masked_fill(x[0], m1, -3.5); },
                  {uniform_leaf({2, 3, 4}, 11)});
  test::gradcheck([m2](const V& x) { return masked_fill(swap_last2(x[0]), m2, 0.0); },
                  {uniform_leaf({4, 3}, 12)});
}

TEST(GradcheckElementwise, Composite) {
  // A small expression that reuses inputs through several ops and broadcasts.
  test::gradcheck(
      [](const V& x) {
        Tensor h = mul(silu(x[0]), x[1]);
        return div(add(h, tanh(x[0])), add(exp(x[1]), 1.0));
      },
      {uniform_leaf({3, 4}, 1), uniform_leaf({4}, 2)});
}
