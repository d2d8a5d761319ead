// attention_forward_lse / attention_backward_lse: the forward equals scaled_dot_product_attention
// and its lse a closed-form logsumexp; attention split into key blocks, merged with log-sum-exp
// and differentiated block by block with the merged out/lse gives the gradients of the whole.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "check.h"

using namespace xomni;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct Problem {
  Tensor q, k, v, seg;  // seg [B, T] i64 or undefined
};

// B=2, Hq=4, Hkv=2, T=11, D=8; packed documents 0 0 0 1 1 1 1 2 2 2 2 in batch 0 and
// 0 0 0 0 0 1 1 1 1 1 1 in batch 1.
Problem make_problem(DType dt) {
  Problem p;
  p.q = test::uniform({2, 4, 11, 8}, 1, dt);
  p.k = test::uniform({2, 2, 11, 8}, 2, dt);
  p.v = test::uniform({2, 2, 11, 8}, 3, dt);
  p.seg = Tensor::from_vector(std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,  //
                                                   0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1},
                              {2, 11});
  return p;
}

// u8 mask of the elements equal to -inf.
Tensor is_neg_inf(const Tensor& t) {
  std::vector<uint8_t> m;
  for (double x : t.to_vector<double>()) m.push_back(x == kNegInf ? 1 : 0);
  return Tensor::from_vector(m, t.shape());
}

// logsumexp over the visible keys of each row, in double (-inf when none is visible).
std::vector<double> closed_form_lse(const Tensor& q, const Tensor& k, const AttentionOptions& o) {
  const int64_t B = q.size(0), Hq = q.size(1), Tq = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), Tk = k.size(2);
  const auto Q = q.to_vector<double>(), K = k.to_vector<double>();
  std::vector<int64_t> qs, ks;
  if (o.q_segment_ids.defined()) {
    qs = o.q_segment_ids.to_vector<int64_t>();
    ks = o.k_segment_ids.to_vector<int64_t>();
  }
  const double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> lse;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        std::vector<double> s;
        for (int64_t j = 0; j < Tk; ++j) {
          if (o.causal && j > i + Tk - Tq) continue;
          if (!qs.empty() && qs[size_t(b * Tq + i)] != ks[size_t(b * Tk + j)]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += Q[size_t(((b * Hq + h) * Tq + i) * D + d)] *
                   K[size_t(((b * Hkv + h / (Hq / Hkv)) * Tk + j) * D + d)];
          s.push_back(dot * scale);
        }
        double m = kNegInf;
        for (double x : s) m = std::max(m, x);
        double sum = 0;
        for (double x : s) sum += std::exp(x - m);
        lse.push_back(s.empty() ? kNegInf : m + std::log(sum));
      }
  return lse;
}

TEST(AttentionLse, ForwardMatchesAttentionAndClosedFormLse) {
  for (DType dt : {DType::f64, DType::f32})
    for (bool causal : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + (causal ? " causal" : " full"));
      const Problem p = make_problem(dt);
      AttentionOptions o;
      o.causal = causal;
      o.q_segment_ids = p.seg.clone();
      // Query 4 of batch 1 belongs to no key's document: its row sees nothing.
      o.q_segment_ids.data<int64_t>()[11 + 4] = 7;
      o.k_segment_ids = p.seg;
      const AttentionWithLse r = attention_forward_lse(p.q, p.k, p.v, o);
      // The same kernel: bit for bit.
      EXPECT_EQ(r.out.to_vector<double>(),
                scaled_dot_product_attention(p.q, p.k, p.v, o).to_vector<double>());
      const std::vector<double> ref = closed_form_lse(p.q, p.k, o);
      const std::vector<double> got = r.lse.to_vector<double>();
      ASSERT_EQ(r.lse.shape(), Shape({2, 4, 11}));
      const double tol = dt == DType::f64 ? 1e-13 : 1e-5;
      int empty = 0;
      for (size_t x = 0; x < ref.size(); ++x) {
        if (ref[x] == kNegInf) {
          ++empty;
          EXPECT_EQ(got[x], kNegInf) << "row " << x;
        } else {
          EXPECT_NEAR(got[x], ref[x], tol * std::max(1.0, std::abs(ref[x]))) << "row " << x;
        }
      }
      EXPECT_EQ(empty, 4);  // one row per query head
    }
}

// One block of the split problem: query rows [q0, q1) against key rows [k0, k1).
struct Block {
  int64_t q0, q1, k0, k1;
  bool causal;
};

// Runs attention block by block: forward per block, outputs merged per query row with
// log-sum-exp, then attention_backward_lse per block with the merged out/lse slices; returns
// {out, dq, dk, dv}.
std::vector<Tensor> blockwise(const Problem& p, const std::vector<Block>& blocks,
                              const Tensor& gout) {
  const DType dt = p.q.dtype();
  const int64_t B = p.q.size(0), Hq = p.q.size(1), T = p.q.size(2);
  Tensor out = Tensor::zeros(p.q.shape(), dt);
  Tensor lse = Tensor::full({B, Hq, T}, kNegInf, dt);
  auto opts = [&](const Block& b) {
    AttentionOptions o;
    o.causal = b.causal;
    o.q_segment_ids = slice(p.seg, 1, b.q0, b.q1).contiguous();
    o.k_segment_ids = slice(p.seg, 1, b.k0, b.k1).contiguous();
    return o;
  };
  auto rows = [](const Tensor& t, int64_t a, int64_t b) { return slice(t, 2, a, b); };
  for (const Block& b : blocks) {
    const AttentionWithLse r = attention_forward_lse(rows(p.q, b.q0, b.q1), rows(p.k, b.k0, b.k1),
                                                     rows(p.v, b.k0, b.k1), opts(b));
    // Merge in double: lse = logaddexp, out = sum of exp(lse_b - lse) out_b.
    Tensor o_acc = rows(out, b.q0, b.q1), l_acc = rows(lse, b.q0, b.q1);
    const Tensor l_new = [&] {
      const auto a = l_acc.to_vector<double>(), c = r.lse.to_vector<double>();
      std::vector<double> n(a.size());
      for (size_t x = 0; x < a.size(); ++x) {
        const double m = std::max(a[x], c[x]);
        n[x] = m == kNegInf ? kNegInf : m + std::log(std::exp(a[x] - m) + std::exp(c[x] - m));
      }
      return Tensor::from_vector(n, l_acc.shape()).to(dt);
    }();
    auto weight = [&](const Tensor& l) {  // exp(l - l_new), 0 where l = -inf
      Tensor w = exp(sub(l, l_new));
      return unsqueeze(masked_fill(w, is_neg_inf(l), 0.0), 3);
    };
    o_acc.copy_(add(mul(o_acc, weight(l_acc)), mul(r.out, weight(r.lse))));
    l_acc.copy_(l_new);
  }
  Tensor dq = Tensor::zeros(p.q.shape(), dt), dk = Tensor::zeros(p.k.shape(), dt),
         dv = Tensor::zeros(p.v.shape(), dt);
  for (const Block& b : blocks) {
    const std::vector<Tensor> g = attention_backward_lse(
        rows(p.q, b.q0, b.q1), rows(p.k, b.k0, b.k1), rows(p.v, b.k0, b.k1), rows(out, b.q0, b.q1),
        rows(lse, b.q0, b.q1), rows(gout, b.q0, b.q1), opts(b));
    rows(dq, b.q0, b.q1).copy_(add(rows(dq, b.q0, b.q1), g[0]));
    rows(dk, b.k0, b.k1).copy_(add(rows(dk, b.k0, b.k1), g[1]));
    rows(dv, b.k0, b.k1).copy_(add(rows(dv, b.k0, b.k1), g[2]));
  }
  return {out, dq, dk, dv};
}

void check_split(DType dt, bool causal, const std::vector<Block>& blocks) {
  const Problem p = make_problem(dt);
  const Tensor gout = test::uniform(p.q.shape(), 9, dt);
  std::vector<Tensor> got;
  {
    NoGradGuard no_grad;
    got = blockwise(p, blocks, gout);
  }
  Tensor q = p.q.clone().set_requires_grad(), k = p.k.clone().set_requires_grad(),
         v = p.v.clone().set_requires_grad();
  AttentionOptions o;
  o.causal = causal;
  o.q_segment_ids = p.seg;
  o.k_segment_ids = p.seg;
  const Tensor out = scaled_dot_product_attention(q, k, v, o);
  out.backward(gout);
  const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
  test::expect_close(got[0], out.detach(), tol, "out");
  test::expect_close(got[1], q.grad(), tol, "dq");
  test::expect_close(got[2], k.grad(), tol, "dk");
  test::expect_close(got[3], v.grad(), tol, "dv");
}

TEST(AttentionLse, TwoKeyBlocksMergeToWholeAttention) {
  // Every query against keys [0, 5) and [5, 11): the block boundary cuts document 1 of batch 0
  // and document 0 of batch 1, and batch 0's document 2 has no key in the first block.
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(dtype_name(dt));
    check_split(dt, false, {{0, 11, 0, 5, false}, {0, 11, 5, 11, false}});
  }
}

TEST(AttentionLse, CausalBlocksMergeToWholeAttention) {
  // Causal attention from blocks: queries [0, 5) see keys [0, 5) causally; queries [5, 11) see
  // keys [0, 5) fully and keys [5, 11) causally (the ring attention decomposition).
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(dtype_name(dt));
    check_split(dt, true, {{0, 5, 0, 5, true}, {5, 11, 0, 5, false}, {5, 11, 5, 11, true}});
  }
}

TEST(AttentionLse, RejectsMismatchedSavedTensors) {
  const Problem p = make_problem(DType::f64);
  const AttentionWithLse r = attention_forward_lse(p.q, p.k, p.v);
  const std::string msg = test::error_message(
      [&] { attention_backward_lse(p.q, p.k, p.v, r.out, slice(r.lse, 2, 0, 5), r.out); });
  EXPECT_NE(msg.find("attention_backward_lse"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lse"), std::string::npos) << msg;
}

}  // namespace
