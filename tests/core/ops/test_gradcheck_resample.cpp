// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// upsample_nearest2d and avg_pool2d, factors 2 and 3, with a transposed input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckResample, UpsampleNearest) {
  test::gradcheck([](const V& x) { return upsample_nearest2d(x[0], 2); },
                  {uniform_leaf({1, 2, 3, 2}, 1)});
  test::gradcheck([](const V& x) { return upsample_nearest2d(x[0], 3); },
                  {uniform_leaf({2, 1, 2, 3}, 2)});
  test::gradcheck([](const V& x) { return upsample_nearest2d(transpose(x[0], 2, 3), 2); },
                  {uniform_leaf({1, 2, 3, 2}, 3)});
}

TEST(GradcheckResample, AvgPool) {
  test::gradcheck([](const V& x) { return avg_pool2d(x[0], 2); }, {uniform_leaf({1, 2, 4, 6}, 1)});
  test::gradcheck([](const V& x) { return avg_pool2d(x[0], 3); }, {uniform_leaf({2, 1, 6, 3}, 2)});
  test::gradcheck([](const V& x) { return avg_pool2d(transpose(x[0], 2, 3), 2); },
                  {uniform_leaf({1, 2, 4, 2}, 3)});
}
