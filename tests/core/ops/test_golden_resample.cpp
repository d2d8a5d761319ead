// Golden upsample_nearest2d and avg_pool2d (kernel = stride = factor) against PyTorch 1.13
// (fixtures/resample.xtf, make_fixtures.py): factors 2 and 3, odd sizes, transposed inputs.
// Tolerance: f32 1e-5 of scaled_max_error (sums of at most 9 terms); f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  return {
      {"up2", {"x"}, [](const V& x) { return upsample_nearest2d(x[0], 2); }},
      {"up3", {"x"}, [](const V& x) { return upsample_nearest2d(x[0], 3); }},
      {"up2_T", {"x"}, [](const V& x) { return upsample_nearest2d(swap_last2(x[0]), 2); }},
      {"pool2", {"x"}, [](const V& x) { return avg_pool2d(x[0], 2); }},
      {"pool3", {"x"}, [](const V& x) { return avg_pool2d(x[0], 3); }},
      {"pool2_T", {"x"}, [](const V& x) { return avg_pool2d(swap_last2(x[0]), 2); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenResample, "resample");
