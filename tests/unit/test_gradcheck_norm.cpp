// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// layer_norm and rms_norm over the last dim (all inputs), with non-contiguous inputs, a mean
// offset and a large eps.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return test::uniform(s, seed, DType::f64, lo, hi).set_requires_grad(true);
}
Tensor T(const Tensor& x) {
  return transpose(x, -2, -1);
}
}  // namespace

TEST(GradcheckNorm, LayerNorm) {
  test::gradcheck([](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
                  {U({3, 5}, 1), U({5}, 2, 0.5, 1.5), U({5}, 3)});
  test::gradcheck([](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
                  {U({2, 3, 4}, 4), U({4}, 5, 0.5, 1.5), U({4}, 6)});
  test::gradcheck([](const V& x) { return layer_norm(T(x[0]), x[1], x[2], 1e-5); },
                  {U({5, 3}, 7), U({5}, 8, 0.5, 1.5), U({5}, 9)});
  test::gradcheck([](const V& x) { return layer_norm(x[0], x[1], x[2], 0.1); },
                  {U({3, 4}, 10, -0.3, 0.3), U({4}, 11), U({4}, 12)});
  test::gradcheck([](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
                  {U({2, 6}, 13, 3.0, 4.0), U({6}, 14), U({6}, 15)});
  // A broadcast (stride-0) input and a transposed result (non-contiguous upstream gradient).
  test::gradcheck(
      [](const V& x) {
        return layer_norm(expand(x[0], {2, 4}), x[1], x[2], 1e-5);
      },
      {U({1, 4}, 16), U({4}, 17), U({4}, 18)});
  test::gradcheck([](const V& x) { return T(layer_norm(x[0], x[1], x[2], 1e-5)); },
                  {U({3, 4}, 19), U({4}, 20), U({4}, 21)});
}

TEST(GradcheckNorm, RmsNorm) {
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 1e-6); }, {U({3, 5}, 1), U({5}, 2)});
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 1e-6); },
                  {U({2, 3, 4}, 3), U({4}, 4)});
  test::gradcheck([](const V& x) { return rms_norm(T(x[0]), x[1], 1e-6); },
                  {U({5, 3}, 5), U({5}, 6)});
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 0.1); },
                  {U({3, 4}, 7, -0.3, 0.3), U({4}, 8)});
  test::gradcheck(
      [](const V& x) {
        return rms_norm(expand(x[0], {2, 4}), x[1], 1e-6);
      },
      {U({1, 4}, 9), U({4}, 10)});
  test::gradcheck([](const V& x) { return T(rms_norm(x[0], x[1], 1e-6)); },
                  {U({3, 4}, 11), U({4}, 12)});
}
