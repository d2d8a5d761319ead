// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// group_norm: NCHW and NCL, groups 1 / some / C, a large eps, a transposed input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return test::uniform(s, seed, DType::f64, lo, hi).set_requires_grad(true);
}
}  // namespace

TEST(GradcheckGroupNorm, Shapes) {
  test::gradcheck([](const V& x) { return group_norm(x[0], 2, x[1], x[2], 1e-5); },
                  {U({2, 4, 3, 2}, 1), U({4}, 2, 0.5, 1.5), U({4}, 3)});
  test::gradcheck([](const V& x) { return group_norm(x[0], 3, x[1], x[2], 1e-5); },
                  {U({2, 3, 5}, 4), U({3}, 5, 0.5, 1.5), U({3}, 6)});
  test::gradcheck([](const V& x) { return group_norm(x[0], 1, x[1], x[2], 0.1); },
                  {U({1, 4, 2, 3}, 7, -0.3, 0.3), U({4}, 8), U({4}, 9)});
  test::gradcheck([](const V& x) { return group_norm(transpose(x[0], 2, 3), 2, x[1], x[2], 1e-5); },
                  {U({1, 4, 2, 3}, 10, 2.0, 3.0), U({4}, 11), U({4}, 12)});
}
