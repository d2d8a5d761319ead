// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// upsample_nearest2d and avg_pool2d, factors 2 and 3, with a transposed input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed) {
  return test::uniform(s, seed).set_requires_grad(true);
}
}  // namespace

TEST(GradcheckResample, UpsampleNearest) {
  test::gradcheck([](const V& x) { return upsample_nearest2d(x[0], 2); }, {U({1, 2, 3, 2}, 1)});
  test::gradcheck([](const V& x) { return upsample_nearest2d(x[0], 3); }, {U({2, 1, 2, 3}, 2)});
  test::gradcheck([](const V& x) { return upsample_nearest2d(transpose(x[0], 2, 3), 2); },
                  {U({1, 2, 3, 2}, 3)});
}

TEST(GradcheckResample, AvgPool) {
  test::gradcheck([](const V& x) { return avg_pool2d(x[0], 2); }, {U({1, 2, 4, 6}, 1)});
  test::gradcheck([](const V& x) { return avg_pool2d(x[0], 3); }, {U({2, 1, 6, 3}, 2)});
  test::gradcheck([](const V& x) { return avg_pool2d(transpose(x[0], 2, 3), 2); },
                  {U({1, 2, 4, 2}, 3)});
}
