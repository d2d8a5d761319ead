// Golden softmax and log_softmax against PyTorch 1.13 (fixtures/softmax.xtf, make_fixtures.py),
// over the last, a middle and the first dim, a transposed input, logits of scale 30 (stability)
// and rows of 1031. Tolerance: f32 1e-5 of scaled_max_error for every case (a row's max and
// exp-sum carry a few f32 roundings; the backward's dot product over 1031 entries stays below
// that); f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
std::vector<GoldenCase> cases() {
  std::vector<GoldenCase> cs;
  using Op = Tensor (*)(const Tensor&, int64_t);
  const std::pair<const char*, Op> ops[] = {
      {"softmax", [](const Tensor& a, int64_t d) { return softmax(a, d); }},
      {"logsoftmax", [](const Tensor& a, int64_t d) { return log_softmax(a, d); }}};
  for (const auto& [name, op] : ops) {
    const std::string n = name;
    Op f = op;
    cs.push_back({n + "_dm1", {"x"}, [f](const V& x) { return f(x[0], -1); }});
    cs.push_back({n + "_d1", {"x"}, [f](const V& x) { return f(x[0], 1); }});
    cs.push_back({n + "_d0", {"x"}, [f](const V& x) { return f(x[0], 0); }});
    cs.push_back({n + "_T", {"x"}, [f](const V& x) { return f(swap_last2(x[0]), -1); }});
    cs.push_back({n + "_big", {"x"}, [f](const V& x) { return f(x[0], -1); }});
    cs.push_back({n + "_long", {"x"}, [f](const V& x) { return f(x[0], -1); }});
  }
  // Some logits are -inf (masked): their probability and gradient are exactly 0.
  cs.push_back({"softmax_neginf", {"x"}, [](const V& x) { return softmax(x[0], -1); }});
  return cs;
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenSoftmax, "softmax");
