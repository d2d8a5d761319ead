// AdamW against torch.optim.AdamW, parameter groups, freezing, state round trip, grad clipping.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <map>

#include "check.h"
#include "xomni/core/nn/optim.h"

using namespace xomni;

namespace {

// The problem of tests/fixtures/golden/make_optim_fixtures.py (constants repeated there).
constexpr int kSteps = 10;
constexpr double kLr = 0.05, kBeta1 = 0.9, kBeta2 = 0.95, kEps = 1e-6, kWd = 0.1;
constexpr double kNoDecayLrScale = 0.5, kMaxNorm = 1.5;
const std::vector<std::string> kNames = {"fc1.weight", "fc1.bias", "norm.weight", "head.weight",
                                         "skip.weight"};

struct TinyRun {
  std::vector<double> losses, norms;
  std::vector<NamedParam> params;
  AdamW opt;
};

Tensor tiny_loss(const std::map<std::string, Tensor>& p, const Tensor& x, const Tensor& y) {
  Tensor h = mul(tanh(linear(x, p.at("fc1.weight"), p.at("fc1.bias"))), p.at("norm.weight"));
  Tensor out = add(linear(h, p.at("head.weight")), linear(x, p.at("skip.weight")));
  Tensor d = sub(out, y);
  return mean(mul(d, d));
}

TinyRun run_tiny(DType dtype) {
  const test::Fixture& fx = test::load_fixture("optim_adamw");
  std::vector<NamedParam> params;
  std::map<std::string, Tensor> by_name;
  for (const std::string& n : kNames) {
    Tensor t = test::fixture_get(fx, "init." + n).to(dtype).clone();
    t.set_requires_grad();
    params.push_back({n, t});
    by_name[n] = t;
  }
  const Tensor x = test::fixture_get(fx, "x").to(dtype);
  const Tensor y = test::fixture_get(fx, "y").to(dtype);
  AdamWOptions o;
  o.lr = kLr, o.beta1 = kBeta1, o.beta2 = kBeta2, o.eps = kEps, o.weight_decay = kWd;
  o.no_decay_lr_scale = kNoDecayLrScale;
  TinyRun r{{}, {}, params, AdamW(params, o)};
  EXPECT_EQ(r.opt.freeze({"skip.*"}), 1u);
  for (int k = 0; k < kSteps; ++k) {
    r.opt.zero_grad();
    Tensor loss = tiny_loss(by_name, x, y);
    loss.backward();
    r.norms.push_back(clip_grad_norm(params, kMaxNorm));
    r.opt.set_lr(kLr * (1.0 - k / 20.0));
    r.opt.step();
    r.losses.push_back(loss.item());
  }
  return r;
}

void check_against_torch(DType dtype, double tol) {
  const test::Fixture& fx = test::load_fixture("optim_adamw");
  const std::string dt = dtype_name(dtype);
  TinyRun r = run_tiny(dtype);
  test::expect_close(Tensor::from_vector<double>(r.losses, {kSteps}),
                     test::fixture_get(fx, dt + ".loss").to(DType::f64), tol, dt + " losses");
  test::expect_close(Tensor::from_vector<double>(r.norms, {kSteps}),
                     test::fixture_get(fx, dt + ".norm").to(DType::f64), tol, dt + " grad norms");
  std::map<std::string, Tensor> state;
  for (const NamedParam& s : r.opt.state()) state[s.name] = s.tensor;
  for (const NamedParam& p : r.params) {
    test::expect_close(p.tensor, test::fixture_get(fx, dt + "." + p.name).to(dtype), tol,
                       dt + " final " + p.name);
    if (p.name == "skip.weight") continue;
    for (const char* s : {".exp_avg", ".exp_avg_sq"})
      test::expect_close(state.at(p.name + s),
                         test::fixture_get(fx, dt + "." + p.name + s).to(dtype), tol,
                         dt + " " + p.name + s);
  }
}

}  // namespace

TEST(Glob, Matching) {
  EXPECT_TRUE(glob_match("*.bias", "layers.0.attn.q.bias"));
  EXPECT_FALSE(glob_match("*.bias", "layers.0.attn.q.weight"));
  EXPECT_TRUE(glob_match("*norm*", "layers.3.input_norm.weight"));
  EXPECT_TRUE(glob_match("layers.?.mlp.*", "layers.7.mlp.up.weight"));
  EXPECT_FALSE(glob_match("layers.?.mlp.*", "layers.17.mlp.up.weight"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYbc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYYb"));
  EXPECT_TRUE(glob_match("embed", "embed"));
  EXPECT_FALSE(glob_match("embed", "embed.weight"));
}

TEST(AdamW, DefaultGroupsPutBiasesNormsAnd1DInNoDecay) {
  std::vector<NamedParam> ps = {
      {"wte.weight", Tensor::zeros({4, 2})},        {"layers.0.q.bias", Tensor::zeros({2})},
      {"layers.0.norm.weight", Tensor::zeros({2})}, {"layers.0.q.weight", Tensor::zeros({2, 2})},
      {"final_norm_2d", Tensor::zeros({2, 2})},     {"scale", Tensor::zeros({3})}};
  AdamW opt(ps);
  EXPECT_EQ(opt.groups()[0].name, "decay");
  EXPECT_EQ(opt.groups()[0].params, (std::vector<size_t>{0, 3}));
  EXPECT_EQ(opt.groups()[1].name, "no_decay");
  EXPECT_EQ(opt.groups()[1].params, (std::vector<size_t>{1, 2, 4, 5}));
  EXPECT_DOUBLE_EQ(opt.groups()[0].weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(opt.groups()[1].weight_decay, 0.0);
  opt.set_lr_scale("no_decay", 0.25);
  EXPECT_EQ(opt.groups()[1].lr_scale, 0.25);
  EXPECT_NE(test::error_message([&] { opt.set_lr_scale("nodecay", 1.0); }).find("'nodecay'"),
            std::string::npos);
  // Duplicate names are rejected with the name.
  EXPECT_NE(test::error_message([&] {
              AdamW({{"a", Tensor::zeros({2})}, {"a", Tensor::zeros({2})}});
            }).find("duplicate parameter name 'a'"),
            std::string::npos);
}

// Tolerance: 1e-6 of each tensor's largest magnitude. Both sides run the same f32 operation
// sequence; they differ only in summation order inside linear/mean and FMA contraction, a few
// ulps per step over 10 steps.
TEST(AdamW, MatchesTorchF32) {
  check_against_torch(DType::f32, 1e-6);
}
// The f64 run checks the update rule itself without f32 rounding in the way.
TEST(AdamW, MatchesTorchF64) {
  check_against_torch(DType::f64, 1e-12);
}

TEST(AdamW, FrozenParameterDoesNotMoveAndStateDoesNotAdvance) {
  const test::Fixture& fx = test::load_fixture("optim_adamw");
  TinyRun r = run_tiny(DType::f32);
  Tensor skip = r.params[4].tensor;
  EXPECT_FALSE(skip.requires_grad());
  EXPECT_EQ(skip.to_vector<float>(), test::fixture_get(fx, "init.skip.weight").to_vector<float>());
  for (const NamedParam& s : r.opt.state()) {
    if (s.name == "skip.weight.step") {
      EXPECT_EQ(s.tensor.item(), 0.0);
    }
    if (s.name == "fc1.weight.step") {
      EXPECT_EQ(s.tensor.item(), double(kSteps));
    }
    if (s.name == "step") {
      EXPECT_EQ(s.tensor.item(), double(kSteps));
    }
  }
  // A gradient left on a frozen tensor is ignored too.
  Tensor before = skip.clone();
  skip.set_grad(Tensor::ones(skip.shape()));
  r.opt.step();
  EXPECT_EQ(skip.to_vector<float>(), before.to_vector<float>());
  // Unfreezing makes it train again.
  EXPECT_EQ(r.opt.unfreeze({"skip.weight"}), 1u);
  EXPECT_TRUE(skip.requires_grad());
  skip.set_grad(Tensor::ones(skip.shape()));
  r.opt.step();
  EXPECT_NE(skip.to_vector<float>(), before.to_vector<float>());
  // A pattern that matches nothing is an error naming it.
  EXPECT_NE(test::error_message([&] { r.opt.freeze({"layers.*"}); }).find("'layers.*'"),
            std::string::npos);
}

TEST(AdamW, FirstStepClosedForm) {
  // After one step from m = v = 0: m_hat = g, v_hat = g^2, so
  // p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
  Tensor p = Tensor::from_vector<double>({1.0, -2.0, 0.5}, {3});
  p.set_requires_grad();
  AdamWOptions o;
  o.lr = 0.1, o.weight_decay = 0.2, o.eps = 1e-3, o.no_decay_1d = false, o.no_decay = {};
  AdamW opt({{"w", p}}, o);
  const std::vector<double> g = {0.3, -4.0, 0.0}, p0 = {1.0, -2.0, 0.5};
  p.set_grad(Tensor::from_vector<double>(g, {3}));
  opt.step();
  const std::vector<double> p1 = p.to_vector<double>();
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(p1[i], p0[i] * (1 - 0.1 * 0.2) - 0.1 * g[i] / (std::abs(g[i]) + 1e-3), 1e-14);
}

TEST(ClipGradNorm, ClosedForm) {
  Tensor a = Tensor::zeros({2}, DType::f64), b = Tensor::zeros({1, 1}, DType::f64);
  Tensor c = Tensor::zeros({3}, DType::f64);  // no gradient: skipped
  a.set_requires_grad(), b.set_requires_grad(), c.set_requires_grad();
  auto set = [&] {
    a.set_grad(Tensor::from_vector<double>({3.0, 4.0}, {2}));
    b.set_grad(Tensor::from_vector<double>({12.0}, {1, 1}));
  };
  std::vector<NamedParam> ps = {{"a", a}, {"b", b}, {"c", c}};
  set();
  EXPECT_DOUBLE_EQ(grad_norm(ps), 13.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(ps, 20.0), 13.0);  // below the limit: untouched
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3.0, 4.0}));
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_DOUBLE_EQ(clip_grad_norm(ps, 6.5), 13.0);
  EXPECT_DOUBLE_EQ(a.grad().to_vector<double>()[0], 3.0 * coef);
  EXPECT_DOUBLE_EQ(a.grad().to_vector<double>()[1], 4.0 * coef);
  EXPECT_DOUBLE_EQ(b.grad().to_vector<double>()[0], 12.0 * coef);
  EXPECT_FALSE(c.grad().defined());
  EXPECT_NEAR(grad_norm(ps), 6.5, 1e-6);
  // A long f32 gradient: sum over several blocks, against the closed form
  // sum_{i<n} (i mod 7 - 3)^2 = (n/7) * 28 for n a multiple of 7.
  const int64_t n = 7 * 20000;
  std::vector<float> v(size_t(n), 0.0f);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i % 7 - 3);
  Tensor big = Tensor::zeros({n});
  big.set_requires_grad();
  big.set_grad(Tensor::from_vector<float>(v, {n}));
  EXPECT_DOUBLE_EQ(grad_norm({{"big", big}}), std::sqrt(double(n / 7) * 28.0));
}

TEST(AdamW, StateRoundTripContinuesBitwise) {
  auto make = [](std::vector<NamedParam> src) {
    std::vector<NamedParam> ps;
    for (const NamedParam& p : src) {
      Tensor t = p.tensor.detach().clone();
      t.set_requires_grad();
      ps.push_back({p.name, t});
    }
    return ps;
  };
  std::vector<NamedParam> init = {{"w", test::uniform({5, 4}, 1, DType::f32)},
                                  {"b", test::uniform({4}, 2, DType::f32)}};
  AdamWOptions o;
  o.lr = 0.01, o.weight_decay = 0.1;
  auto grads = [](int k) {
    return std::vector<Tensor>{test::uniform({5, 4}, 100 + uint64_t(k), DType::f32),
                               test::uniform({4}, 200 + uint64_t(k), DType::f32)};
  };
  auto step = [&](AdamW& opt, std::vector<NamedParam>& ps, int k) {
    std::vector<Tensor> g = grads(k);
    for (size_t i = 0; i < ps.size(); ++i) ps[i].tensor.set_grad(g[i].clone());
    opt.step();
  };
  std::vector<NamedParam> pa = make(init);
  AdamW a(pa, o);
  for (int k = 0; k < 3; ++k) step(a, pa, k);
  // Save, then restore into a fresh optimizer over copies of the parameters.
  std::vector<NamedParam> pb = make(pa);
  AdamW b(pb, o);
  b.load_state(a.state());
  EXPECT_EQ(b.steps(), 3);
  for (int k = 3; k < 6; ++k) step(a, pa, k), step(b, pb, k);
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::vector<float> va = pa[i].tensor.to_vector<float>();
    const std::vector<float> vb = pb[i].tensor.to_vector<float>();
    ASSERT_EQ(va.size(), vb.size());
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)), 0) << pa[i].name;
  }
  // Missing and mis-shaped entries are named.
  std::vector<NamedParam> st = a.state();
  std::vector<NamedParam> missing(st.begin(), st.end() - 1);  // drops "b.exp_avg_sq"
  EXPECT_NE(test::error_message([&] {
              b.load_state(missing);
            }).find("missing state entry 'b.exp_avg_sq'"),
            std::string::npos);
  std::vector<NamedParam> bad = st;
  for (NamedParam& e : bad)
    if (e.name == "w.exp_avg") e.tensor = Tensor::zeros({4, 5});
  const std::string msg = test::error_message([&] { b.load_state(bad); });
  EXPECT_NE(msg.find("'w.exp_avg'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 5]"), std::string::npos) << msg;
  std::vector<NamedParam> extra = st;
  extra.push_back({"v.exp_avg", Tensor::zeros({1})});
  EXPECT_NE(test::error_message([&] { b.load_state(extra); }).find("'v.exp_avg'"),
            std::string::npos);
}

TEST(ClipGradNorm, SameNormAtAnyThreadCount) {
  Tensor w = Tensor::zeros({1000, 331});
  w.set_requires_grad();
  w.set_grad(test::uniform({1000, 331}, 5, DType::f32));
  const std::vector<NamedParam> ps = {{"w", w}};
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = grad_norm(ps);
  omp_set_num_threads(3);
  const double three = grad_norm(ps);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
}
