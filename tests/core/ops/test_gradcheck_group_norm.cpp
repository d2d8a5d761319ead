// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// group_norm: NCHW and NCL, groups 1 / some / C, a large eps, a transposed input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckGroupNorm, Shapes) {
  test::gradcheck(
      [](const V& x) { return group_norm(x[0], 2, x[1], x[2], 1e-5); },
      {uniform_leaf({2, 4, 3, 2}, 1), uniform_leaf({4}, 2, 0.5, 1.5), uniform_leaf({4}, 3)});
  test::gradcheck(
      [](const V& x) { return group_norm(x[0], 3, x[1], x[2], 1e-5); },
      {uniform_leaf({2, 3, 5}, 4), uniform_leaf({3}, 5, 0.5, 1.5), uniform_leaf({3}, 6)});
  test::gradcheck(
      [](const V& x) { return group_norm(x[0], 1, x[1], x[2], 0.1); },
      {uniform_leaf({1, 4, 2, 3}, 7, -0.3, 0.3), uniform_leaf({4}, 8), uniform_leaf({4}, 9)});
  test::gradcheck(
      [](const V& x) { return group_norm(transpose(x[0], 2, 3), 2, x[1], x[2], 1e-5); },
      {uniform_leaf({1, 4, 2, 3}, 10, 2.0, 3.0), uniform_leaf({4}, 11), uniform_leaf({4}, 12)});
}
