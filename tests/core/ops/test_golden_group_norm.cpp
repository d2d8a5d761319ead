// Golden group_norm against PyTorch 1.13 (fixtures/group_norm.xtf, make_fixtures.py): NCHW and
// NCL inputs, groups of 1, some and C (instance norm), a mean offset of 3 and a transposed
// input. Tolerance: f32 1e-5 of scaled_max_error; f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto gn = [](int64_t groups, double eps) {
    return [groups, eps](const V& x) { return group_norm(x[0], groups, x[1], x[2], eps); };
  };
  return {
      {"gn_4d", {"x", "w", "b"}, gn(3, 1e-5)},
      {"gn_3d", {"x", "w", "b"}, gn(2, 1e-5)},
      {"gn_inst", {"x", "w", "b"}, gn(4, 1e-5)},
      {"gn_one", {"x", "w", "b"}, gn(1, 1e-3)},
      {"gn_offset", {"x", "w", "b"}, gn(2, 1e-5)},
      // x is stored [2, 6, 3, 5]; the op sees it with the last two dims swapped.
      {"gn_T",
       {"x", "w", "b"},
       [](const V& x) { return group_norm(transpose(x[0], 2, 3), 2, x[1], x[2], 1e-5); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenGroupNorm, "group_norm");
