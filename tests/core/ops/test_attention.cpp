// scaled_dot_product_attention against plain-loop references in double (forward and analytic
// backward), finite differences (f64), determinism, and a long sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "check.h"

using namespace xomni;

namespace {

constexpr double kTolF32 = 1e-5;      // forward, relative to the output's scale
constexpr double kTolF64 = 1e-12;     // forward
constexpr double kTolGradF32 = 1e-4;  // gradients vs the double reference, relative
constexpr double kTolGradF64 = 1e-10;

struct Naive {
  Tensor out, dq, dk, dv;  // f64, [B, H, T, D] like the op's results
};

// Softmax attention over the visible keys, written out in double with the op's rules: causal
// bottom-right alignment (key j visible to query i iff j <= i + Tk - Tq), equal segment ids,
// unpadded keys; a row with no visible key gives zeros and no gradient. Gradients of
// sum(out * gout) when gout is given.
Naive naive_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                      const AttentionOptions& opt, const Tensor& gout = Tensor()) {
  const int64_t B = q.size(0), Hq = q.size(1), Tq = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), Tk = k.size(2), group = Hq / Hkv;
  const std::vector<double> Q = q.to_vector<double>(), K = k.to_vector<double>(),
                            V = v.to_vector<double>();
  const std::vector<double> G = gout.defined() ? gout.to_vector<double>() : std::vector<double>();
  std::vector<int64_t> qs, ks, pad;
  if (opt.q_segment_ids.defined()) {
    qs = opt.q_segment_ids.to_vector<int64_t>();
    ks = opt.k_segment_ids.to_vector<int64_t>();
  }
  if (opt.key_padding_mask.defined()) pad = opt.key_padding_mask.to_vector<int64_t>();
  const double scale = opt.scale ? *opt.scale : 1.0 / std::sqrt(double(D));
  std::vector<double> out(Q.size()), dq(Q.size()), dk(K.size()), dv(V.size());
  auto qrow = [&](int64_t b, int64_t h, int64_t i) { return ((b * Hq + h) * Tq + i) * D; };
  auto krow = [&](int64_t b, int64_t h, int64_t j) { return ((b * Hkv + h) * Tk + j) * D; };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t hk = h / group, qi = qrow(b, h, i);
        std::vector<double> s(size_t(Tk), 0.0), p(size_t(Tk), 0.0);
        std::vector<bool> vis(static_cast<size_t>(Tk));
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Tk; ++j) {
          vis[j] = (!opt.causal || j <= i + Tk - Tq) &&
                   (qs.empty() || qs[b * Tq + i] == ks[b * Tk + j]) &&
                   (pad.empty() || pad[b * Tk + j] == 0);
          if (!vis[j]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += Q[qi + d] * K[krow(b, hk, j) + d];
          s[j] = scale * dot;
          m = std::max(m, s[j]);
        }
        if (m == -std::numeric_limits<double>::infinity()) continue;
        double sum = 0;
        for (int64_t j = 0; j < Tk; ++j)
          if (vis[j]) sum += std::exp(s[j] - m);
        for (int64_t j = 0; j < Tk; ++j) {
          if (!vis[j]) continue;
          p[j] = std::exp(s[j] - m) / sum;
          for (int64_t d = 0; d < D; ++d) out[qi + d] += p[j] * V[krow(b, hk, j) + d];
        }
        if (G.empty()) continue;
        std::vector<double> dp(size_t(Tk), 0.0);
        double di = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          if (!vis[j]) continue;
          for (int64_t d = 0; d < D; ++d) dp[j] += G[qi + d] * V[krow(b, hk, j) + d];
          di += p[j] * dp[j];
        }
        for (int64_t j = 0; j < Tk; ++j) {
          if (!vis[j]) continue;
          const double ds = p[j] * (dp[j] - di);
          const int64_t kj = krow(b, hk, j);
          for (int64_t d = 0; d < D; ++d) {
            dv[kj + d] += p[j] * G[qi + d];
            dq[qi + d] += scale * ds * K[kj + d];
            dk[kj + d] += scale * ds * Q[qi + d];
          }
        }
      }
  Naive r;
  r.out = Tensor::from_vector(out, q.shape());
  if (!G.empty()) {
    r.dq = Tensor::from_vector(dq, q.shape());
    r.dk = Tensor::from_vector(dk, k.shape());
    r.dv = Tensor::from_vector(dv, v.shape());
  }
  return r;
}

struct Qkv {
  Tensor q, k, v;
};

// q in [-3, 3) so the scores are spread out and the softmax is far from uniform.
Qkv make_qkv(int64_t B, int64_t Hq, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, DType dt,
             uint64_t seed) {
  return {test::uniform({B, Hq, Tq, D}, seed, dt, -3, 3),
          test::uniform({B, Hkv, Tk, D}, seed + 1, dt),
          test::uniform({B, Hkv, Tk, D}, seed + 2, dt)};
}

// Document ids from run lengths, repeated per batch row with a shift so rows differ.
Tensor segments(int64_t B, const std::vector<int64_t>& lengths, DType dt) {
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < B; ++b) {
    int64_t doc = 0, pos = 0;
    for (int64_t len : lengths) {
      // Shift the boundary by b so batch rows differ.
      const int64_t n = doc == 0 ? len + b : (doc + 1 == int64_t(lengths.size()) ? len - b : len);
      for (int64_t t = 0; t < n; ++t, ++pos) ids.push_back(doc + 10 * b);
      ++doc;
    }
  }
  Tensor t = Tensor::from_vector(ids, {B, int64_t(ids.size()) / B});
  return t.to(dt);
}

void check_forward(const Qkv& x, const AttentionOptions& opt, const std::string& what) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor q = x.q.to(dt), k = x.k.to(dt), v = x.v.to(dt);
    const Tensor out = scaled_dot_product_attention(q, k, v, opt);
    test::expect_close(out, naive_attention(q, k, v, opt).out, dt == DType::f32 ? kTolF32 : kTolF64,
                       what + (dt == DType::f32 ? " (f32)" : " (f64)"));
  }
}

// Gradients of sum(out * gout) from the op against the plain-loop backward, f32 and f64.
void check_backward(const Qkv& x, const AttentionOptions& opt, const std::string& what) {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor q = x.q.to(dt).set_requires_grad(true), k = x.k.to(dt).set_requires_grad(true),
           v = x.v.to(dt).set_requires_grad(true);
    const Tensor gout = test::uniform(x.q.shape(), 99, dt);
    const Tensor out = scaled_dot_product_attention(q, k, v, opt);
    out.backward(gout);
    const Naive ref = naive_attention(q, k, v, opt, gout);
    const double tol = dt == DType::f32 ? kTolGradF32 : kTolGradF64;
    const std::string tag = what + (dt == DType::f32 ? " (f32)" : " (f64)");
    test::expect_close(q.grad(), ref.dq, tol, tag + " dq");
    test::expect_close(k.grad(), ref.dk, tol, tag + " dk");
    test::expect_close(v.grad(), ref.dv, tol, tag + " dv");
  }
}

Tensor sdpa_fn(const std::vector<Tensor>& in, const AttentionOptions& opt) {
  return scaled_dot_product_attention(in[0], in[1], in[2], opt);
}

void gradcheck_case(const Qkv& x, const AttentionOptions& opt) {
  std::vector<Tensor> in = {x.q.clone().set_requires_grad(true),
                            x.k.clone().set_requires_grad(true),
                            x.v.clone().set_requires_grad(true)};
  test::gradcheck([&](const std::vector<Tensor>& t) { return sdpa_fn(t, opt); }, in);
}

}  // namespace

TEST(Attention, ForwardNoMask) {
  check_forward(make_qkv(2, 3, 3, 70, 70, 24, DType::f64, 1), {}, "no mask T=70 D=24");
  check_forward(make_qkv(1, 2, 2, 37, 130, 16, DType::f64, 2), {}, "no mask Tq=37 Tk=130");
  AttentionOptions opt;
  opt.scale = 0.3;
  check_forward(make_qkv(1, 1, 1, 5, 9, 8, DType::f64, 3), opt, "explicit scale");
}

TEST(Attention, ForwardCausal) {
  AttentionOptions opt;
  opt.causal = true;
  check_forward(make_qkv(2, 2, 2, 70, 70, 24, DType::f64, 4), opt, "causal Tq=Tk=70");
  check_forward(make_qkv(1, 2, 2, 130, 130, 64, DType::f64, 5), opt, "causal Tq=Tk=130 D=64");
  check_forward(make_qkv(2, 2, 2, 37, 150, 16, DType::f64, 6), opt, "causal Tq=37 < Tk=150");
  check_forward(make_qkv(1, 2, 2, 1, 70, 16, DType::f64, 7), opt, "causal decode Tq=1");
}

TEST(Attention, ForwardGroupedQuery) {
  AttentionOptions opt;
  opt.causal = true;
  check_forward(make_qkv(2, 4, 2, 70, 70, 16, DType::f64, 8), opt, "GQA Hq=4 Hkv=2");
  check_forward(make_qkv(2, 4, 1, 37, 70, 16, DType::f64, 9), opt, "GQA Hq=4 Hkv=1");
  check_forward(make_qkv(1, 4, 1, 37, 37, 8, DType::f64, 10), {}, "GQA Hq=4 Hkv=1 no mask");
}

TEST(Attention, ForwardSegments) {
  // Three documents of a 70-token row; boundaries differ per batch row.
  const Qkv x = make_qkv(2, 2, 2, 70, 70, 16, DType::f64, 11);
  for (DType idt : {DType::i32, DType::i64}) {
    AttentionOptions opt;
    opt.q_segment_ids = segments(2, {20, 25, 25}, idt);
    opt.k_segment_ids = opt.q_segment_ids;
    check_forward(x, opt, "segments");
    opt.causal = true;
    check_forward(x, opt, "segments + causal");
  }
  // Many short documents spanning tile boundaries (T = 200, 4 tiles).
  AttentionOptions opt;
  opt.causal = true;
  opt.q_segment_ids = segments(1, {30, 50, 7, 60, 53}, DType::i64);
  opt.k_segment_ids = opt.q_segment_ids;
  check_forward(make_qkv(1, 2, 1, 200, 200, 8, DType::f64, 12), opt, "five documents");
}

TEST(Attention, ForwardKeyPadding) {
  const int64_t B = 3, T = 70;
  std::vector<uint8_t> pad(size_t(B * T), 0);
  for (int64_t j = 50; j < T; ++j) pad[size_t(j)] = 1;          // row 0: tail padded
  for (int64_t j = 0; j < T; j += 3) pad[size_t(T + j)] = 1;    // row 1: scattered
  for (int64_t j = 0; j < 66; ++j) pad[size_t(2 * T + j)] = 1;  // row 2: a whole tile padded
  AttentionOptions opt;
  opt.key_padding_mask = Tensor::from_vector(pad, {B, T});
  const Qkv x = make_qkv(B, 2, 2, 40, T, 16, DType::f64, 13);
  check_forward(x, opt, "key padding");
  opt.causal = true;
  check_forward(x, opt, "key padding + causal");
}

TEST(Attention, RowsWithNoVisibleKeyAreZero) {
  // Causal with Tq > Tk: the first Tq - Tk queries see no key.
  AttentionOptions causal;
  causal.causal = true;
  const Qkv x = make_qkv(1, 2, 2, 70, 37, 8, DType::f64, 14);
  check_forward(x, causal, "causal Tq > Tk");
  const Tensor out = scaled_dot_product_attention(x.q, x.k, x.v, causal);
  const std::vector<double> o = out.to_vector<double>();
  for (int64_t i = 0; i < 33 * 8; ++i) EXPECT_EQ(o[size_t(i)], 0.0);
  // A fully padded batch row, and a query document with no keys.
  const Qkv y = make_qkv(2, 1, 1, 6, 6, 4, DType::f64, 15);
  AttentionOptions opt;
  opt.key_padding_mask = Tensor::from_vector<uint8_t>({0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1}, {2, 6});
  check_forward(y, opt, "fully padded row");
  opt.q_segment_ids = Tensor::from_vector<int64_t>({0, 0, 7, 1, 1, 1, 0, 0, 0, 0, 0, 0}, {2, 6});
  opt.k_segment_ids = Tensor::from_vector<int64_t>({0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0}, {2, 6});
  check_forward(y, opt, "query document without keys");
  // Their gradients are zero too.
  check_backward(y, opt, "empty rows");
  check_backward(x, causal, "causal Tq > Tk");
}

TEST(Attention, EmptySequences) {
  // No keys: every row is empty, so zeros and zero gradients; no queries: empty output.
  const Qkv x = make_qkv(2, 2, 1, 5, 0, 4, DType::f64, 19);
  Tensor q = x.q.clone().set_requires_grad(true);
  Tensor out = scaled_dot_product_attention(q, x.k, x.v);
  test::expect_close(out, Tensor::zeros({2, 2, 5, 4}, DType::f64), 0.0, "Tk = 0");
  sum(out).backward();
  test::expect_close(q.grad(), Tensor::zeros({2, 2, 5, 4}, DType::f64), 0.0, "Tk = 0 grad");
  const Qkv y = make_qkv(2, 2, 1, 0, 6, 4, DType::f32, 19);
  EXPECT_EQ(scaled_dot_product_attention(y.q, y.k, y.v).shape(), Shape({2, 2, 0, 4}));
}

TEST(Attention, NonContiguousInputs) {
  // Transposed views of [B, T, H, D] activations, as produced by a projection + reshape.
  const int64_t B = 2, T = 70, H = 4, Hkv = 2, D = 24;
  Qkv x;
  x.q = transpose(test::uniform({B, T, H, D}, 16, DType::f64, -3, 3), 1, 2);
  x.k = transpose(test::uniform({B, T, Hkv, D}, 17), 1, 2);
  x.v = transpose(test::uniform({B, T, Hkv, D}, 18), 1, 2);
  ASSERT_FALSE(x.q.is_contiguous());
  AttentionOptions opt;
  opt.causal = true;
  check_forward(x, opt, "transposed views");
  check_backward(x, opt, "transposed views");
  // The gradient reaches the [B, T, H, D] leaf through the transpose, and a non-contiguous
  // upstream gradient (a transposed view) is accepted.
  Tensor base = test::uniform({B, T, H, D}, 16, DType::f64, -3, 3).set_requires_grad(true);
  Tensor out = scaled_dot_product_attention(transpose(base, 1, 2), x.k, x.v, opt);
  const Tensor gout = transpose(test::uniform({B, T, H, D}, 99), 1, 2);
  ASSERT_FALSE(gout.is_contiguous());
  out.backward(gout);
  const Naive ref = naive_attention(x.q, x.k, x.v, opt, gout);
  test::expect_close(transpose(base.grad(), 1, 2), ref.dq, kTolGradF64,
                     "grad of the [B,T,H,D] leaf");
}

TEST(Attention, GradcheckCausalGroupedQuery) {
  AttentionOptions opt;
  opt.causal = true;
  gradcheck_case(make_qkv(1, 4, 2, 5, 7, 3, DType::f64, 20), opt);
  gradcheck_case(make_qkv(2, 2, 1, 6, 6, 4, DType::f64, 21), opt);
}

TEST(Attention, GradcheckAcrossTiles) {
  // Two key and query tiles, causal, a single (batch, kv head) pair (chunked dQ path).
  AttentionOptions opt;
  opt.causal = true;
  gradcheck_case(make_qkv(1, 1, 1, 67, 67, 2, DType::f64, 22), opt);
}

TEST(Attention, GradcheckSegmentsAndPadding) {
  AttentionOptions seg;
  seg.q_segment_ids = Tensor::from_vector<int32_t>({0, 0, 1, 1, 1, 2, 5, 5, 5, 6, 6, 6}, {2, 6});
  seg.k_segment_ids = seg.q_segment_ids;
  gradcheck_case(make_qkv(2, 2, 2, 6, 6, 3, DType::f64, 23), seg);
  AttentionOptions pad;
  pad.key_padding_mask =
      Tensor::from_vector<uint8_t>({0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1}, {2, 7});
  gradcheck_case(make_qkv(2, 2, 1, 5, 7, 3, DType::f64, 24), pad);
  pad.causal = true;
  gradcheck_case(make_qkv(2, 2, 1, 5, 7, 3, DType::f64, 25), pad);
}

TEST(Attention, BackwardMatchesReference) {
  AttentionOptions causal;
  causal.causal = true;
  check_backward(make_qkv(2, 4, 2, 70, 130, 24, DType::f64, 30), causal, "causal GQA Tq<Tk");
  check_backward(make_qkv(1, 3, 1, 130, 130, 16, DType::f64, 31), causal, "causal Hkv=1");
  check_backward(make_qkv(2, 2, 2, 37, 37, 64, DType::f64, 32), {}, "no mask D=64");
  AttentionOptions both;
  both.causal = true;
  both.q_segment_ids = segments(2, {30, 50, 7, 60, 53}, DType::i64);
  both.k_segment_ids = both.q_segment_ids;
  std::vector<uint8_t> pad(400, 0);
  for (int64_t j = 190; j < 200; ++j) pad[size_t(j)] = pad[size_t(200 + j - 100)] = 1;
  both.key_padding_mask = Tensor::from_vector(pad, {2, 200});
  check_backward(make_qkv(2, 2, 1, 200, 200, 8, DType::f64, 33), both, "segments + padding");
}

TEST(Attention, OnlyRequestedGradients) {
  const Qkv x = make_qkv(1, 2, 1, 9, 9, 4, DType::f64, 40);
  Tensor k = x.k.clone().set_requires_grad(true);
  AttentionOptions opt;
  opt.causal = true;
  Tensor out = scaled_dot_product_attention(x.q, k, x.v, opt);
  const Tensor gout = test::uniform(out.shape(), 99);
  out.backward(gout);
  test::expect_close(k.grad(), naive_attention(x.q, x.k, x.v, opt, gout).dk, kTolGradF64,
                     "dk only");
}

TEST(Attention, Deterministic) {
  AttentionOptions opt;
  opt.causal = true;
  // B * Hkv = 1 takes the chunked dQ path at 2 threads; B * Hkv = 4 does not.
  for (const Qkv& x64 : {make_qkv(1, 2, 1, 200, 200, 32, DType::f64, 50),
                         make_qkv(2, 4, 2, 150, 150, 32, DType::f64, 51)}) {
    std::vector<std::vector<float>> first;
    for (int run = 0; run < 2; ++run) {
      Tensor q = x64.q.to(DType::f32).set_requires_grad(true),
             k = x64.k.to(DType::f32).set_requires_grad(true),
             v = x64.v.to(DType::f32).set_requires_grad(true);
      Tensor out = scaled_dot_product_attention(q, k, v, opt);
      out.backward(test::uniform(out.shape(), 7, DType::f32));
      std::vector<std::vector<float>> got = {out.to_vector<float>(), q.grad().to_vector<float>(),
                                             k.grad().to_vector<float>(),
                                             v.grad().to_vector<float>()};
      if (run == 0)
        first = got;
      else
        for (size_t t = 0; t < got.size(); ++t) EXPECT_TRUE(got[t] == first[t]) << "tensor " << t;
    }
  }
}

TEST(Attention, LongSequence) {
  // B=1, H=1, T=4096, D=16 causal in f32: forward and backward run; sampled rows of the output
  // and of dQ match the double reference computed for those rows only.
  const int64_t T = 4096, D = 16;
  const Qkv x = make_qkv(1, 1, 1, T, T, D, DType::f32, 60);
  Tensor q = x.q.clone().set_requires_grad(true);
  AttentionOptions opt;
  opt.causal = true;
  Tensor out = scaled_dot_product_attention(q, x.k, x.v, opt);
  const Tensor gout = test::uniform(out.shape(), 61, DType::f32);
  out.backward(gout);
  const std::vector<double> Q = x.q.to_vector<double>(), K = x.k.to_vector<double>(),
                            V = x.v.to_vector<double>(), G = gout.to_vector<double>(),
                            O = out.to_vector<double>(), dQ = q.grad().to_vector<double>();
  const double scale = 1.0 / std::sqrt(double(D));
  for (int64_t i : {0, 1, 63, 64, 1000, 2047, 3001, 4095}) {
    std::vector<double> s(size_t(i + 1)), dp(size_t(i + 1), 0.0), o(size_t(D), 0.0),
        dq(size_t(D), 0.0);
    double m = -INFINITY, sum = 0, di = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += Q[i * D + d] * K[j * D + d];
      s[j] = scale * dot;
      m = std::max(m, s[j]);
    }
    for (int64_t j = 0; j <= i; ++j) sum += std::exp(s[j] - m);
    for (int64_t j = 0; j <= i; ++j) {
      s[j] = std::exp(s[j] - m) / sum;  // now P
      for (int64_t d = 0; d < D; ++d) {
        o[d] += s[j] * V[j * D + d];
        dp[j] += G[i * D + d] * V[j * D + d];
      }
      di += s[j] * dp[j];
    }
    for (int64_t j = 0; j <= i; ++j)
      for (int64_t d = 0; d < D; ++d) dq[d] += scale * s[j] * (dp[j] - di) * K[j * D + d];
    double oscale = 1e-12, oerr = 0, gscale = 1e-12, gerr = 0;
    for (int64_t d = 0; d < D; ++d) {
      oscale = std::max(oscale, std::abs(o[d]));
      oerr = std::max(oerr, std::abs(O[i * D + d] - o[d]));
      gscale = std::max(gscale, std::abs(dq[d]));
      gerr = std::max(gerr, std::abs(dQ[i * D + d] - dq[d]));
    }
    EXPECT_LE(oerr / oscale, kTolF32) << "output row " << i;
    EXPECT_LE(gerr / gscale, kTolGradF32) << "dq row " << i;
  }
}

TEST(Attention, Errors) {
  const Qkv x = make_qkv(1, 3, 2, 4, 4, 8, DType::f32, 70);
  auto throws_naming_op = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what()).find("scaled_dot_product_attention") != std::string::npos;
    }
    return false;
  };
  EXPECT_TRUE(throws_naming_op([&] { scaled_dot_product_attention(x.q, x.k, x.v); }))
      << "Hq % Hkv != 0";
  const Qkv y = make_qkv(1, 2, 2, 4, 4, 8, DType::f32, 71);
  EXPECT_TRUE(
      throws_naming_op([&] { scaled_dot_product_attention(y.q, y.k.to(DType::f64), y.v); }));
  EXPECT_TRUE(
      throws_naming_op([&] { scaled_dot_product_attention(y.q, y.k, slice(y.v, 2, 0, 3)); }));
  EXPECT_TRUE(
      throws_naming_op([&] { scaled_dot_product_attention(y.q, slice(y.k, 3, 0, 4), y.v); }));
  EXPECT_TRUE(throws_naming_op([&] {
    scaled_dot_product_attention(reshape(y.q, {2, 4, 8}), y.k, y.v);
  }));
  AttentionOptions one;
  one.q_segment_ids = Tensor::zeros({1, 4}, DType::i64);
  EXPECT_TRUE(throws_naming_op([&] { scaled_dot_product_attention(y.q, y.k, y.v, one); }));
  AttentionOptions bad_pad;
  bad_pad.key_padding_mask = Tensor::zeros({1, 5}, DType::u8);
  EXPECT_TRUE(throws_naming_op([&] { scaled_dot_product_attention(y.q, y.k, y.v, bad_pad); }));
}
