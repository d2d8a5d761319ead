// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for rope
// with positions [B, T] and [T] (i64 and i32) and a transposed [B, H, T, D] input.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckRope, Positions) {
  const Tensor pbt = Tensor::from_vector<int64_t>({0, 1, 2, 0, 5, 6, 7, 100}, {2, 4});
  test::gradcheck([pbt](const V& x) { return rope(x[0], pbt, 1e4); },
                  {uniform_leaf({2, 4, 2, 4}, 1)});
  const Tensor pt = Tensor::from_vector<int32_t>({3, 4, 5}, {3});
  test::gradcheck([pt](const V& x) { return rope(x[0], pt, 1e6); },
                  {uniform_leaf({1, 3, 2, 6}, 2)});
  test::gradcheck([pbt](const V& x) { return rope(transpose(x[0], 1, 2), pbt, 1e4); },
                  {uniform_leaf({2, 2, 4, 4}, 3)});
  test::gradcheck([pbt](const V& x) { return transpose(rope(x[0], pbt, 1e4), 1, 2); },
                  {uniform_leaf({2, 4, 2, 4}, 4)});
}
