// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// conv2d (x, weight and bias): stride 1 and 2, padding 0 to 2, rectangular kernels, no bias, a
// transposed input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckConv, Conv2d) {
  test::gradcheck(
      [](const V& x) { return conv2d(x[0], x[1], x[2], 1, 1); },
      {uniform_leaf({2, 2, 4, 5}, 1), uniform_leaf({3, 2, 3, 3}, 2), uniform_leaf({3}, 3)});
  test::gradcheck(
      [](const V& x) { return conv2d(x[0], x[1], x[2], 2, 0); },
      {uniform_leaf({1, 2, 5, 5}, 4), uniform_leaf({2, 2, 3, 3}, 5), uniform_leaf({2}, 6)});
  test::gradcheck([](const V& x) { return conv2d(x[0], x[1], Tensor(), 2, 2); },
                  {uniform_leaf({1, 1, 5, 4}, 7), uniform_leaf({2, 1, 3, 2}, 8)});
  test::gradcheck(
      [](const V& x) { return conv2d(transpose(x[0], 2, 3), x[1], x[2], 1, 1); },
      {uniform_leaf({1, 2, 3, 4}, 9), uniform_leaf({2, 2, 3, 3}, 10), uniform_leaf({2}, 11)});
  // A batch broadcast from one image (stride 0) and a permuted result.
  test::gradcheck(
      [](const V& x) {
        return permute(conv2d(expand(x[0], {2, 1, 4, 4}), x[1], x[2], 1, 0), {0, 2, 3, 1});
      },
      {uniform_leaf({1, 1, 4, 4}, 12), uniform_leaf({2, 1, 2, 2}, 13), uniform_leaf({2}, 14)});
}
