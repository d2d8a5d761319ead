// Golden rope against a hand-written rotate-half reference in PyTorch 1.13 (fixtures/rope.xtf,
// make_fixtures.py; HF Qwen2/Llama convention, angles formed in f64): positions [B, T] (packed,
// restarting) and [T], i64 and i32, theta 1e4 and 1e6, far positions up to 12345, and x given as
// a [B, H, T, D] tensor transposed to [B, T, H, D]. Tolerance: f32 1e-5 of scaled_max_error,
// rope_far included (an op that forms pos * inv_freq in f32 loses ~1e-4 there: that is a real
// error, not rounding noise); f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto r = [](double theta) {
    return [theta](const V& x) { return rope(x[0], x[1], theta); };
  };
  return {
      {"rope_bt", {"x", "pos"}, r(1e4)},
      {"rope_t", {"x", "pos"}, r(1e4)},
      {"rope_i32", {"x", "pos"}, r(1e6)},
      {"rope_far", {"x", "pos"}, r(1e4)},
      // x is stored [B, H, T, D]; the op sees x.transpose(1, 2).
      {"rope_T", {"x", "pos"}, [](const V& x) { return rope(transpose(x[0], 1, 2), x[1], 1e4); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenRope, "rope");
