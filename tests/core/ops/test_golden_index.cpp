// Golden lookups against PyTorch 1.13 (fixtures/index.xtf, make_fixtures.py): embedding, gather
// and index_select with repeated indices (their gradients scatter-add), i32 and i64 indices.
// Tolerance: f32 1e-5 of scaled_max_error (sums of at most 4 repeated rows); f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  return {
      {"emb_2d", {"w", "ids"}, [](const V& x) { return embedding(x[0], x[1]); }},
      {"emb_1d_i32", {"w", "ids"}, [](const V& x) { return embedding(x[0], x[1]); }},
      {"gather_d1", {"x", "idx"}, [](const V& x) { return gather(x[0], 1, x[1]); }},
      {"gather_d0", {"x", "idx"}, [](const V& x) { return gather(x[0], 0, x[1]); }},
      {"gather_3d", {"x", "idx"}, [](const V& x) { return gather(x[0], 1, x[1]); }},
      {"gather_T", {"x", "idx"}, [](const V& x) { return gather(swap_last2(x[0]), 1, x[1]); }},
      {"isel_d0", {"x", "idx"}, [](const V& x) { return index_select(x[0], 0, x[1]); }},
      {"isel_d1", {"x", "idx"}, [](const V& x) { return index_select(x[0], 1, x[1]); }},
      {"isel_dm1_i32", {"x", "idx"}, [](const V& x) { return index_select(x[0], -1, x[1]); }},
      {"isel_T", {"x", "idx"}, [](const V& x) { return index_select(swap_last2(x[0]), 0, x[1]); }},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenIndex, "index");
