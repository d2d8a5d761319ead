// A one-block causal attention model (embedding, RMS norm, RoPE, grouped-query attention,
// SwiGLU-free residual, head) learns to output the previous token: only attention to the
// position one step back solves it. Adam is written here (optimizers belong to the nn layer).
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"

using namespace xomni;

namespace {
struct Adam {
  std::vector<Tensor> params, m, v;
  double lr, b1 = 0.9, b2 = 0.98, eps = 1e-8;
  int t = 0;
  Adam(std::vector<Tensor> ps, double rate) : params(std::move(ps)), lr(rate) {
    for (const Tensor& p : params) {
      m.push_back(Tensor::zeros(p.shape()));
      v.push_back(Tensor::zeros(p.shape()));
    }
  }
  void step() {
    NoGradGuard no_grad;
    ++t;
    const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor g = params[i].grad();
      m[i].copy_(add(mul(m[i], b1), mul(g, 1 - b1)));
      v[i].copy_(add(mul(v[i], b2), mul(mul(g, g), 1 - b2)));
      const Tensor upd = div(mul(m[i], 1 / c1), add(sqrt(mul(v[i], 1 / c2)), eps));
      params[i].copy_(sub(params[i], mul(upd, lr)));
      params[i].zero_grad();
    }
  }
};

Tensor param(const Shape& shape, uint64_t seed, double scale) {
  Generator g(seed);
  Tensor t = mul(randn(shape, g), scale).detach();
  t.set_requires_grad();
  return t;
}
}  // namespace

TEST(ToyTraining, AttentionLearnsPreviousToken) {
  const int64_t V = 16, Dm = 32, Hq = 4, Hkv = 2, Dh = 8, B = 16, T = 16;
  Tensor emb = param({V, Dm}, 1, 1.0), wq = param({Hq * Dh, Dm}, 2, 0.2),
         wk = param({Hkv * Dh, Dm}, 3, 0.2), wv = param({Hkv * Dh, Dm}, 4, 0.2),
         wo = param({Dm, Hq * Dh}, 5, 0.2), head = param({V, Dm}, 6, 0.2);
  Tensor norm1 = Tensor::ones({Dm}), norm2 = Tensor::ones({Dm});
  norm1.set_requires_grad();
  norm2.set_requires_grad();
  Adam opt({emb, wq, wk, wv, wo, head, norm1, norm2}, 1e-2);
  const Tensor positions = Tensor::arange(T);
  AttentionOptions causal;
  causal.causal = true;
  Generator data(99);

  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    // Random token sequences; the target at t is the token at t-1 (position 0 is ignored).
    std::vector<int64_t> ids(size_t(B * T)), tgt(size_t(B * T));
    Tensor u = rand({B * T}, data, DType::f64);
    std::vector<double> uv = u.to_vector<double>();
    for (int64_t i = 0; i < B * T; ++i) ids[size_t(i)] = int64_t(uv[size_t(i)] * V) % V;
    for (int64_t i = 0; i < B * T; ++i) tgt[size_t(i)] = i % T == 0 ? -100 : ids[size_t(i - 1)];
    Tensor x = embedding(emb, Tensor::from_vector(ids, {B, T}));  // [B, T, Dm]
    Tensor h = rms_norm(x, norm1);
    Tensor q = rope(reshape(linear(h, wq), {B, T, Hq, Dh}), positions);
    Tensor k = rope(reshape(linear(h, wk), {B, T, Hkv, Dh}), positions);
    Tensor v = reshape(linear(h, wv), {B, T, Hkv, Dh});
    Tensor a = scaled_dot_product_attention(transpose(q, 1, 2), transpose(k, 1, 2),
                                            transpose(v, 1, 2), causal);  // [B, Hq, T, Dh]
    x = add(x, linear(reshape(transpose(a, 1, 2), {B, T, Hq * Dh}), wo));
    Tensor logits = linear(rms_norm(x, norm2), head);
    Tensor loss = cross_entropy(reshape(logits, {B * T, V}), Tensor::from_vector(tgt, {B * T}));
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
  }
  EXPECT_GT(first, 2.0);  // ~ln 16 = 2.77 at the start
  EXPECT_LT(last, 0.1) << "attention block did not learn the previous-token task: " << first
                       << " -> " << last;
}
