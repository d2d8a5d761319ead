// Golden reductions against PyTorch 1.13 (fixtures/reduce.xtf, make_fixtures.py).
// Tolerance: f32 1e-5 of scaled_max_error (f64 run 1e-6) for every case, sum_long included: its
// rows of 1031 N(0,1) values sum to ~30 and pairwise or blocked f32 summation stays well inside
// 1e-5 of that scale. max indices and argmax are compared exactly.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  return {
      {"sum_all", {"x"}, [](const V& x) { return sum(x[0]); }},
      {"sum_d1", {"x"}, [](const V& x) { return sum(x[0], {1}); }},
      {"sum_d02k",
       {"x"},
       [](const V& x) {
         return sum(x[0], {0, 2}, true);
       }},
      {"sum_dm1_T", {"x"}, [](const V& x) { return sum(swap_last2(x[0]), {-1}); }},
      {"sum_long", {"x"}, [](const V& x) { return sum(x[0], {1}); }},
      {"sum_d0_long", {"x"}, [](const V& x) { return sum(x[0], {0}); }},
      {"mean_all", {"x"}, [](const V& x) { return mean(x[0]); }},
      {"mean_d1", {"x"}, [](const V& x) { return mean(x[0], {1}); }},
      {"mean_d02k",
       {"x"},
       [](const V& x) {
         return mean(x[0], {0, 2}, true);
       }},
      // x is stored [4, 7, 26]; the op sees x[..., ::2].
      {"mean_d2_step", {"x"}, [](const V& x) { return mean(slice(x[0], 2, 0, 26, 2), {2}); }},
      {"var_d1", {"x"}, [](const V& x) { return var(x[0], {1}); }},
      {"var_d02k",
       {"x"},
       [](const V& x) {
         return var(x[0], {0, 2}, 1, true);
       }},
      {"var_c0_dm1", {"x"}, [](const V& x) { return var(x[0], {-1}, 0); }},
      {"var_d1_T", {"x"}, [](const V& x) { return var(swap_last2(x[0]), {1}); }},
      {"var_offset", {"x"}, [](const V& x) { return var(x[0], {1}); }},
      {"max_d1", {"x"}, [](const V& x) { return max(x[0], 1).values; }},
      {"max_d0k", {"x"}, [](const V& x) { return max(x[0], 0, true).values; }},
      {"max_dm1_T", {"x"}, [](const V& x) { return max(swap_last2(x[0]), -1).values; }},
      {"argmax_d1", {"x"}, [](const V& x) { return argmax(x[0], 1); }},
      {"argmax_d2k", {"x"}, [](const V& x) { return argmax(x[0], 2, true); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenReduce, "reduce");

TEST(GoldenReduce, MaxIndices) {
  const test::Fixture& fx = fixture();
  const std::pair<const char*, std::function<MaxResult(const Tensor&)>> cs[] = {
      {"max_d1", [](const Tensor& x) { return max(x, 1); }},
      {"max_d0k", [](const Tensor& x) { return max(x, 0, true); }},
      {"max_dm1_T", [](const Tensor& x) { return max(swap_last2(x), -1); }}};
  for (const auto& [name, fn] : cs) {
    const std::string n = name;
    const Tensor ref = test::fixture_get(fx, n + ".idx");
    for (DType dt : {DType::f32, DType::f64}) {
      const MaxResult r = fn(test::fixture_get(fx, n + ".x").to(dt));
      ASSERT_EQ(r.indices.dtype(), DType::i64) << n;
      ASSERT_EQ(r.indices.shape(), ref.shape()) << n;
      EXPECT_EQ(r.indices.to_vector<int64_t>(), ref.to_vector<int64_t>()) << n;
    }
  }
}
