// Golden layer_norm and rms_norm over the last dim against PyTorch 1.13 (fixtures/norm.xtf,
// make_fixtures.py; rms_norm written by hand there as x * rsqrt(mean(x^2) + eps) * w). Cases:
// 2-D and 3-D, a transposed input, small inputs where eps matters, a mean offset of 4 (layer_norm
// must centre accurately) and rows of 1031. Tolerance: f32 1e-5 of scaled_max_error; f64 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto ln = [](double eps) {
    return [eps](const V& x) { return layer_norm(x[0], x[1], x[2], eps); };
  };
  const auto rms = [](double eps) {
    return [eps](const V& x) { return rms_norm(x[0], x[1], eps); };
  };
  return {
      {"ln_2d", {"x", "w", "b"}, ln(1e-5)},
      {"ln_3d", {"x", "w", "b"}, ln(1e-5)},
      {"ln_eps", {"x", "w", "b"}, ln(1e-3)},
      {"ln_T",
       {"x", "w", "b"},
       [](const V& x) { return layer_norm(swap_last2(x[0]), x[1], x[2], 1e-5); }},
      {"ln_offset", {"x", "w", "b"}, ln(1e-5)},
      {"ln_long", {"x", "w", "b"}, ln(1e-5)},
      {"ln_const", {"x", "w", "b"}, ln(1e-5)},  // row 1 is constant: zero variance
      {"rms_2d", {"x", "w"}, rms(1e-6)},
      {"rms_3d", {"x", "w"}, rms(1e-6)},
      {"rms_eps", {"x", "w"}, rms(1e-3)},
      {"rms_T", {"x", "w"}, [](const V& x) { return rms_norm(swap_last2(x[0]), x[1], 1e-6); }},
      {"rms_long", {"x", "w"}, rms(1e-6)},
      {"rms_zero", {"x", "w"}, rms(1e-6)},  // row 2 is all zeros
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenNorm, "norm");
