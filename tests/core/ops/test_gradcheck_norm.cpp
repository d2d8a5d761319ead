// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// layer_norm and rms_norm over the last dim (all inputs), with non-contiguous inputs, a mean
// offset and a large eps.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckNorm, LayerNorm) {
  test::gradcheck([](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
                  {uniform_leaf({3, 5}, 1), uniform_leaf({5}, 2, 0.5, 1.5), uniform_leaf({5}, 3)});
  test::gradcheck(
      [](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
      {uniform_leaf({2, 3, 4}, 4), uniform_leaf({4}, 5, 0.5, 1.5), uniform_leaf({4}, 6)});
  test::gradcheck([](const V& x) { return layer_norm(swap_last2(x[0]), x[1], x[2], 1e-5); },
                  {uniform_leaf({5, 3}, 7), uniform_leaf({5}, 8, 0.5, 1.5), uniform_leaf({5}, 9)});
  test::gradcheck(
      [](const V& x) { return layer_norm(x[0], x[1], x[2], 0.1); },
      {uniform_leaf({3, 4}, 10, -0.3, 0.3), uniform_leaf({4}, 11), uniform_leaf({4}, 12)});
  test::gradcheck(
      [](const V& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
      {uniform_leaf({2, 6}, 13, 3.0, 4.0), uniform_leaf({6}, 14), uniform_leaf({6}, 15)});
  // A broadcast (stride-0) input and a transposed result (non-contiguous upstream gradient).
  test::gradcheck(
      [](const V& x) {
        return layer_norm(expand(x[0], {2, 4}), x[1], x[2], 1e-5);
      },
      {uniform_leaf({1, 4}, 16), uniform_leaf({4}, 17), uniform_leaf({4}, 18)});
  test::gradcheck([](const V& x) { return swap_last2(layer_norm(x[0], x[1], x[2], 1e-5)); },
                  {uniform_leaf({3, 4}, 19), uniform_leaf({4}, 20), uniform_leaf({4}, 21)});
}

TEST(GradcheckNorm, RmsNorm) {
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 1e-6); },
                  {uniform_leaf({3, 5}, 1), uniform_leaf({5}, 2)});
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 1e-6); },
                  {uniform_leaf({2, 3, 4}, 3), uniform_leaf({4}, 4)});
  test::gradcheck([](const V& x) { return rms_norm(swap_last2(x[0]), x[1], 1e-6); },
                  {uniform_leaf({5, 3}, 5), uniform_leaf({5}, 6)});
  test::gradcheck([](const V& x) { return rms_norm(x[0], x[1], 0.1); },
                  {uniform_leaf({3, 4}, 7, -0.3, 0.3), uniform_leaf({4}, 8)});
  test::gradcheck(
      [](const V& x) {
        return rms_norm(expand(x[0], {2, 4}), x[1], 1e-6);
      },
      {uniform_leaf({1, 4}, 9), uniform_leaf({4}, 10)});
  test::gradcheck([](const V& x) { return swap_last2(rms_norm(x[0], x[1], 1e-6)); },
                  {uniform_leaf({3, 4}, 11), uniform_leaf({4}, 12)});
}
