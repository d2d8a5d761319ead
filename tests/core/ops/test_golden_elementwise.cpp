// Golden elementwise ops against PyTorch 1.13 (fixtures/elementwise.xtf, make_fixtures.py).
// Tolerance: the default 1e-5 of scaled_max_error for f32 everywhere (each output element is a
// handful of f32 roundings; broadcast gradients sum at most 28 terms); 1e-6 for the f64 run.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::GoldenCase;
using test::swap_last2;
using V = std::vector<Tensor>;

namespace {
// "_T" cases: the op sees the stored operand with its last two dims swapped.
std::vector<GoldenCase> cases() {
  std::vector<GoldenCase> cs;
  using BinOp = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, BinOp> binary[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }}};
  for (const auto& [name, op] : binary) {
    const std::string n = name;
    BinOp f = op;
    cs.push_back({n + "_same", {"a", "b"}, [f](const V& x) { return f(x[0], x[1]); }});
    cs.push_back({n + "_bcast", {"a", "b"}, [f](const V& x) { return f(x[0], x[1]); }});
    cs.push_back({n + "_scalarb", {"a", "b"}, [f](const V& x) { return f(x[0], x[1]); }});
    cs.push_back({n + "_aT", {"a", "b"}, [f](const V& x) { return f(swap_last2(x[0]), x[1]); }});
    // b is stored [7, 26]; the op sees b[:, ::2].
    cs.push_back(
        {n + "_bstep", {"a", "b"}, [f](const V& x) { return f(x[0], slice(x[1], 1, 0, 26, 2)); }});
  }
  cs.push_back({"adds_2d", {"x"}, [](const V& x) { return add(x[0], 0.75); }});
  cs.push_back({"adds_T", {"x"}, [](const V& x) { return add(swap_last2(x[0]), 0.75); }});
  cs.push_back({"muls_2d", {"x"}, [](const V& x) { return mul(x[0], -1.25); }});
  cs.push_back({"muls_T", {"x"}, [](const V& x) { return mul(swap_last2(x[0]), -1.25); }});

  using UnOp = Tensor (*)(const Tensor&);
  const std::pair<const char*, UnOp> unary[] = {
      {"neg", [](const Tensor& a) { return neg(a); }},
      {"exp", [](const Tensor& a) { return exp(a); }},
      {"log", [](const Tensor& a) { return log(a); }},
      {"sqrt", [](const Tensor& a) { return sqrt(a); }},
      {"rsqrt", [](const Tensor& a) { return rsqrt(a); }},
      {"tanh", [](const Tensor& a) { return tanh(a); }},
      {"sigmoid", [](const Tensor& a) { return sigmoid(a); }},
      {"silu", [](const Tensor& a) { return silu(a); }},
      {"gelu", [](const Tensor& a) { return gelu(a, GeluApprox::none); }},
      {"gelutanh", [](const Tensor& a) { return gelu(a, GeluApprox::tanh); }},
      {"relu", [](const Tensor& a) { return relu(a); }}};
  for (const auto& [name, op] : unary) {
    const std::string n = name;
    UnOp f = op;
    cs.push_back({n + "_33", {"x"}, [f](const V& x) { return f(x[0]); }});
    cs.push_back({n + "_2d", {"x"}, [f](const V& x) { return f(x[0]); }});
    cs.push_back({n + "_T", {"x"}, [f](const V& x) { return f(swap_last2(x[0])); }});
  }
  for (const char* name : {"tanh", "sigmoid", "silu", "gelu", "gelutanh"})
    for (const auto& [n, op] : unary)
      if (std::string(n) == name) {
        UnOp f = op;
        cs.push_back({std::string(name) + "_sat", {"x"}, [f](const V& x) { return f(x[0]); }});
      }
  cs.push_back({"pow3_zeros", {"x"}, [](const V& x) { return pow(x[0], 3.0); }});
  cs.push_back({"pow0_33", {"x"}, [](const V& x) { return pow(x[0], 0.0); }});
  cs.push_back({"pow2_2d", {"x"}, [](const V& x) { return pow(x[0], 2.0); }});
  cs.push_back({"pow3_T", {"x"}, [](const V& x) { return pow(swap_last2(x[0]), 3.0); }});
  cs.push_back({"powhalf_2d", {"x"}, [](const V& x) { return pow(x[0], 0.5); }});
  cs.push_back({"powm1p5_33", {"x"}, [](const V& x) { return pow(x[0], -1.5); }});
  cs.push_back({"clamp_both_2d", {"x"}, [](const V& x) { return clamp(x[0], -0.5, 0.7); }});
  cs.push_back({"clamp_lo_33", {"x"}, [](const V& x) { return clamp(x[0], -0.2, std::nullopt); }});
  cs.push_back(
      {"clamp_hi_T", {"x"}, [](const V& x) { return clamp(swap_last2(x[0]), std::nullopt, 0.3); }});
  cs.push_back(
      {"where_bcast", {"cond", "a", "b"}, [](const V& x) { return where(x[0], x[1], x[2]); }});
  cs.push_back(
      {"where_condb", {"cond", "a", "b"}, [](const V& x) { return where(x[0], x[1], x[2]); }});
  cs.push_back({"where_aT", {"cond", "a", "b"}, [](const V& x) {
                  return where(x[0], swap_last2(x[1]), x[2]);
                }});
  cs.push_back(
      {"maskfill_2d", {"x", "mask"}, [](const V& x) { return masked_fill(x[0], x[1], -3.5); }});
  cs.push_back(
      {"maskfill_bcast", {"x", "mask"}, [](const V& x) { return masked_fill(x[0], x[1], 2.25); }});
  cs.push_back({"maskfill_T", {"x", "mask"}, [](const V& x) {
                  return masked_fill(swap_last2(x[0]), x[1], 0.0);
                }});
  return cs;
}
}  // namespace

XOMNI_GOLDEN_TESTS(GoldenElementwise, "elementwise");
