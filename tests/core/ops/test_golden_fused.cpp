// Golden fused decoder-layer ops against their PyTorch 1.13 compositions (fixtures/fused.xtf,
// make_fused_fixtures.py): add_rms_norm (both outputs stacked so both get a gradient; the sum
// unused; a transposed input; a zero sum row), swiglu (saturated gates, a transposed gate) and
// rope_qk (GQA, positions [B, T] and [T], i64 and i32, far positions, k's output unused).
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/ops/fused.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
Tensor both(const AddRmsNorm& r) {
  return stack({r.sum, r.normed}, 0);
}
std::vector<GoldenCase> cases() {
  const auto arn = [](double eps) {
    return [eps](const V& x) { return both(add_rms_norm(x[0], x[1], x[2], eps)); };
  };
  const auto rqk = [](double theta) {
    return [theta](const V& x) {
      const RopeQK r = rope_qk(x[0], x[1], x[2], theta);
      return cat({r.q, r.k}, 1);
    };
  };
  const auto sw = [](const V& x) { return swiglu(x[0], x[1]); };
  return {
      {"arn_2d", {"x", "r", "w"}, arn(1e-6)},
      {"arn_3d", {"x", "r", "w"}, arn(1e-6)},
      {"arn_eps", {"x", "r", "w"}, arn(1e-3)},
      {"arn_long", {"x", "r", "w"}, arn(1e-6)},
      {"arn_normed",
       {"x", "r", "w"},
       [](const V& x) { return add_rms_norm(x[0], x[1], x[2], 1e-6).normed; }},
      // x is stored [13, 7]; the op sees its transpose.
      {"arn_T",
       {"x", "r", "w"},
       [](const V& x) { return both(add_rms_norm(transpose(x[0], 0, 1), x[1], x[2], 1e-6)); }},
      {"arn_zero", {"x", "r", "w"}, arn(1e-6)},
      {"swiglu_2d", {"gate", "up"}, sw},
      {"swiglu_3d", {"gate", "up"}, sw},
      {"swiglu_sat", {"gate", "up"}, sw},
      {"swiglu_T", {"gate", "up"}, [](const V& x) { return swiglu(transpose(x[0], 0, 1), x[1]); }},
      {"rqk_bt", {"q", "k", "pos"}, rqk(1e4)},
      {"rqk_t", {"q", "k", "pos"}, rqk(1e6)},
      {"rqk_far", {"q", "k", "pos"}, rqk(1e4)},
      {"rqk_q", {"q", "k", "pos"}, [](const V& x) { return rope_qk(x[0], x[1], x[2], 1e4).q; }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenFused, "fused");
