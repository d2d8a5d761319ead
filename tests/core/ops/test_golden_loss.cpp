// Golden cross_entropy against PyTorch 1.13 (fixtures/loss.xtf, make_fixtures.py): mean, sum and
// none reductions with ignored (-100) targets, logits of scale 20, ignore_index 2 with i32
// targets, a transposed logits view and 1031 classes. Tolerance: f32 1e-5 of scaled_max_error;
// f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  const auto ce = [](Reduction r, int64_t ignore) {
    return [r, ignore](const V& x) { return cross_entropy(x[0], x[1], ignore, r); };
  };
  return {
      {"ce_mean", {"logits", "tgt"}, ce(Reduction::mean, -100)},
      {"ce_sum", {"logits", "tgt"}, ce(Reduction::sum, -100)},
      {"ce_none", {"logits", "tgt"}, ce(Reduction::none, -100)},
      {"ce_big", {"logits", "tgt"}, ce(Reduction::mean, -100)},
      {"ce_ign2_i32", {"logits", "tgt"}, ce(Reduction::mean, 2)},
      {"ce_T",
       {"logits", "tgt"},
       [](const V& x) { return cross_entropy(transpose(x[0], 0, 1), x[1]); }},
      {"ce_long", {"logits", "tgt"}, ce(Reduction::sum, -100)},
  };
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenLoss, "loss");
