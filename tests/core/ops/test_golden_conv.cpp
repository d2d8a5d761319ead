// Golden conv2d (groups = 1) against PyTorch 1.13 (fixtures/conv.xtf, make_fixtures.py): stride
// 1 and 2, padding 0, 1 and 2, odd sizes, with and without bias, 1x1 and 5x3 kernels, 16 input
// channels (K = 144) and a transposed input. Tolerance: f32 1e-5 of scaled_max_error; f64 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto c = [](int64_t stride, int64_t pad) {
    return [stride, pad](const V& x) { return conv2d(x[0], x[1], x[2], stride, pad); };
  };
  return {
      {"conv_s1p1", {"x", "w", "b"}, c(1, 1)},
      {"conv_s2p0", {"x", "w", "b"}, c(2, 0)},
      {"conv_s2p1_nobias",
       {"x", "w"},
       [](const V& x) { return conv2d(x[0], x[1], Tensor(), 2, 1); }},
      {"conv_1x1", {"x", "w", "b"}, c(1, 0)},
      {"conv_rect", {"x", "w", "b"}, c(1, 2)},
      {"conv_wide", {"x", "w", "b"}, c(1, 1)},
      {"conv_par", {"x", "w", "b"}, c(1, 1)},  // large enough to run multi-threaded
      // x is stored [2, 3, 9, 7]; the op sees it with the last two dims swapped.
      {"conv_T",
       {"x", "w", "b"},
       [](const V& x) { return conv2d(transpose(x[0], 2, 3), x[1], x[2], 1, 1); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenConv, "conv");
