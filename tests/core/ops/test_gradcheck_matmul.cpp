// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// matmul (2-D, batched, broadcast leading dims, 1-D operands, transposed and strided views) and
// linear (with and without bias, 1-D to 3-D inputs).
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

namespace {
const auto mm = [](const V& x) { return matmul(x[0], x[1]); };
}  // namespace

TEST(GradcheckMatmul, Shapes) {
  test::gradcheck(mm, {uniform_leaf({3, 4}, 1), uniform_leaf({4, 5}, 2)});
  test::gradcheck(mm, {uniform_leaf({2, 3, 4}, 3), uniform_leaf({4, 2}, 4)});
  test::gradcheck(mm, {uniform_leaf({3, 4}, 5), uniform_leaf({2, 4, 2}, 6)});
  test::gradcheck(mm, {uniform_leaf({2, 1, 3, 4}, 7), uniform_leaf({3, 4, 2}, 8)});
  test::gradcheck(mm, {uniform_leaf({4}, 9), uniform_leaf({4, 3}, 10)});
  test::gradcheck(mm, {uniform_leaf({3, 4}, 11), uniform_leaf({4}, 12)});
  test::gradcheck(mm, {uniform_leaf({4}, 13), uniform_leaf({4}, 14)});
  test::gradcheck(mm, {uniform_leaf({4}, 15), uniform_leaf({2, 4, 3}, 16)});
  test::gradcheck(mm, {uniform_leaf({2, 3, 4}, 17), uniform_leaf({4}, 18)});
}

TEST(GradcheckMatmul, Views) {
  test::gradcheck([](const V& x) { return matmul(swap_last2(x[0]), x[1]); },
                  {uniform_leaf({4, 3}, 1), uniform_leaf({4, 5}, 2)});
  test::gradcheck([](const V& x) { return matmul(x[0], swap_last2(x[1])); },
                  {uniform_leaf({3, 4}, 3), uniform_leaf({5, 4}, 4)});
  test::gradcheck([](const V& x) { return matmul(swap_last2(x[0]), swap_last2(x[1])); },
                  {uniform_leaf({2, 4, 3}, 5), uniform_leaf({2, 5, 4}, 6)});
  test::gradcheck([](const V& x) { return matmul(slice(x[0], 1, 0, 8, 2), x[1]); },
                  {uniform_leaf({3, 8}, 7), uniform_leaf({4, 2}, 8)});
  test::gradcheck(
      [](const V& x) {
        return matmul(x[0], expand(x[1], {2, 4, 3}));
      },
      {uniform_leaf({2, 3, 4}, 9), uniform_leaf({1, 4, 3}, 10)});
  // Both operands the same tensor: x x^T.
  test::gradcheck([](const V& x) { return matmul(x[0], swap_last2(x[0])); },
                  {uniform_leaf({3, 4}, 11)});
}

TEST(GradcheckMatmul, Linear) {
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {uniform_leaf({3, 4}, 1), uniform_leaf({5, 4}, 2), uniform_leaf({5}, 3)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {uniform_leaf({2, 3, 4}, 4), uniform_leaf({2, 4}, 5), uniform_leaf({2}, 6)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1]); },
                  {uniform_leaf({3, 4}, 7), uniform_leaf({5, 4}, 8)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {uniform_leaf({4}, 9), uniform_leaf({3, 4}, 10), uniform_leaf({3}, 11)});
  test::gradcheck([](const V& x) { return linear(swap_last2(x[0]), swap_last2(x[1]), x[2]); },
                  {uniform_leaf({4, 3}, 12), uniform_leaf({4, 5}, 13), uniform_leaf({5}, 14)});
}
