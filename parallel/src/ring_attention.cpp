// Ring attention over the context-parallel group. Each rank keeps its queries; the K/V blocks
// travel one step around the ring per round (rank r sends to r+1, receives from r-1), so after
// cp rounds every query has met every key. Partial outputs are merged with log-sum-exp. The
// backward walks the ring again with the saved final out and lse, accumulating dQ at home while
// the dK/dV of each block travel with it and take one last step back to their owner.
#include <cmath>
#include <limits>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"

namespace xomni::parallel {
namespace {

constexpr const char* kOp = "ring_attention";
// Message tags (one communicator per cp group, so they only need to differ from each other).
constexpr int kTagKv = 101, kTagSeg = 102, kTagKvGrad = 103, kTagGrad = 104;

// Sends `msg` to the next rank of the ring and returns what the previous rank sent (same shape
// and dtype). Even ranks send first and odd ranks receive first: a send of a large message
// completes only once its receive is posted, and this order leaves no cycle of waiting ranks.
Tensor ring_pass(const Tensor& msg, const ContextParallel& cp, int tag) {
  const int n = cp.size(), r = cp.rank();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  Tensor got = Tensor::empty(msg.shape(), msg.dtype());
  if (r % 2 == 0) {
    cp.comm->send(msg, next, tag);
    cp.comm->recv(got, prev, tag);
  } else {
    cp.comm->recv(got, prev, tag);
    cp.comm->send(msg, next, tag);
  }
  return got;
}

// Query rows [q0, q1) of this rank against key rows [k0, k1) of the visiting block.
struct Part {
  int64_t q0, q1, k0, k1;
  bool causal;
};

// What this rank's queries (chunks r and 2cp-1-r) see of the block from rank src (chunks src and
// 2cp-1-src), L = 2 chunks. Chunks before a query's chunk are fully visible, its own chunk is
// causal, later chunks are hidden.
Part step_part(int r, int src, int64_t L, bool causal) {
  const int64_t C = L / 2;
  if (!causal) return {0, L, 0, L, false};
  // Own block: the local order is the global order, so this is plain causal attention (our
  // late chunk sees all of our early one, our early chunk none of our late one).
  if (src == r) return {0, L, 0, L, true};
  // src < r: its early chunk precedes both of ours, its late chunk follows both.
  if (src < r) return {0, L, 0, C, false};
  // src > r: both of its chunks lie after our early chunk and before our late chunk.
  return {C, L, 0, L, false};
}

Tensor rows(const Tensor& t, int64_t a, int64_t b) {
  return slice(t, 2, a, b);
}
// Block i of a stack of tensors [n, ...] (a view).
Tensor part_of(const Tensor& stacked, int64_t i) {
  return squeeze(slice(stacked, 0, i, i + 1), 0);
}

// Merges a partial result for rows [q0, q0 + n) into the running out [B, H, L, D] and lse
// [B, H, L]: lse = logaddexp(lse, lse_p), out = exp(lse_old - lse) out + exp(lse_p - lse) out_p.
template <typename T>
void merge_rows(Tensor& out, Tensor& lse, const AttentionWithLse& p, int64_t q0) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t BH = out.size(0) * out.size(1), L = out.size(2), D = out.size(3);
  const int64_t n = p.out.size(2);
  T* o = out.data<T>();
  T* l = lse.data<T>();
  const T* po = p.out.data<T>();
  const T* pl = p.lse.data<T>();
  for (int64_t bh = 0; bh < BH; ++bh)
    for (int64_t i = 0; i < n; ++i) {
      const T lp = pl[bh * n + i];
      if (lp == kNegInf) continue;  // the block showed this row nothing
      T& la = l[bh * L + q0 + i];
      T* oa = o + (bh * L + q0 + i) * D;
      const T* ob = po + (bh * n + i) * D;
      if (la == kNegInf) {
        std::copy(ob, ob + D, oa);
        la = lp;
        continue;
      }
      const T m = std::max(la, lp);
      const T merged = m + std::log1p(std::exp(-std::abs(la - lp)));
      const T wa = std::exp(la - merged), wb = std::exp(lp - merged);
      for (int64_t d = 0; d < D; ++d) oa[d] = wa * oa[d] + wb * ob[d];
      la = merged;
    }
}

// dst += src, for a view dst.
void add_into(const Tensor& dst, const Tensor& src) {
  Tensor d = dst;
  d.copy_(add(dst, src));
}

struct Saved {
  Tensor q, k, v;            // contiguous, detached
  std::vector<Tensor> segs;  // segment ids of each rank's tokens (i64 [B, L]), when given
  Tensor out, lse;           // the final output and logsumexp of this rank's rows
  bool causal = true;
  std::optional<double> scale;
  ContextParallel cp;

  AttentionOptions options(const Part& p, int src) const {
    AttentionOptions o;
    o.causal = p.causal;
    o.scale = scale;
    if (!segs.empty()) {
      o.q_segment_ids = slice(segs[size_t(cp.rank())], 1, p.q0, p.q1).contiguous();
      o.k_segment_ids = slice(segs[size_t(src)], 1, p.k0, p.k1).contiguous();
    }
    return o;
  }
};

void forward(Saved& s) {
  const ContextParallel& cp = s.cp;
  const int n = cp.size(), r = cp.rank();
  const int64_t L = s.q.size(2);
  s.out = Tensor::zeros(s.q.shape(), s.q.dtype());
  s.lse = Tensor::full({s.q.size(0), s.q.size(1), L}, -std::numeric_limits<double>::infinity(),
                       s.q.dtype());
  Tensor kv = stack({s.k, s.v}, 0).contiguous();
  Tensor seg = s.segs.empty() ? Tensor() : s.segs[size_t(r)];
  for (int step = 0; step < n; ++step) {
    const int src = (r - step + n) % n;
    if (step > 0) {
      kv = ring_pass(kv, cp, kTagKv);
      if (seg.defined()) s.segs[size_t(src)] = seg = ring_pass(seg, cp, kTagSeg);
    }
    const Part p = step_part(r, src, L, s.causal);
    const AttentionWithLse a =
        attention_forward_lse(rows(s.q, p.q0, p.q1), rows(part_of(kv, 0), p.k0, p.k1),
                              rows(part_of(kv, 1), p.k0, p.k1), s.options(p, src));
    dispatch_float(kOp, s.q.dtype(), [&]<typename T>() { merge_rows<T>(s.out, s.lse, a, p.q0); });
  }
}

std::vector<Tensor> backward(const Saved& s, const Tensor& dout) {
  const ContextParallel& cp = s.cp;
  const int n = cp.size(), r = cp.rank();
  const int64_t L = s.q.size(2);
  Tensor dq = Tensor::zeros(s.q.shape(), s.q.dtype());
  // [k, v, dk, dv] of the visiting block: the gradients travel with the block they belong to.
  Tensor msg = stack({s.k, s.v, Tensor::zeros(s.k.shape(), s.k.dtype()),
                      Tensor::zeros(s.v.shape(), s.v.dtype())},
                     0)
                   .contiguous();
  for (int step = 0; step < n; ++step) {
    const int src = (r - step + n) % n;
    if (step > 0) msg = ring_pass(msg, cp, kTagKvGrad);
    const Part p = step_part(r, src, L, s.causal);
    const std::vector<Tensor> g =
        attention_backward_lse(rows(s.q, p.q0, p.q1), rows(part_of(msg, 0), p.k0, p.k1),
                               rows(part_of(msg, 1), p.k0, p.k1), rows(s.out, p.q0, p.q1),
                               rows(s.lse, p.q0, p.q1), rows(dout, p.q0, p.q1), s.options(p, src));
    add_into(rows(dq, p.q0, p.q1), g[0]);
    add_into(rows(part_of(msg, 2), p.k0, p.k1), g[1]);
    add_into(rows(part_of(msg, 3), p.k0, p.k1), g[2]);
  }
  // The block last visited belongs to rank r+1: one more step takes every dK/dV home.
  Tensor grads = n > 1 ? ring_pass(slice(msg, 0, 2, 4).contiguous(), cp, kTagGrad)
                       : slice(msg, 0, 2, 4).contiguous();
  return {dq, part_of(grads, 0).contiguous(), part_of(grads, 1).contiguous()};
}

}  // namespace

Tensor ring_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                      const RingAttentionOptions& opt, const ContextParallel& cp) {
  XOMNI_CHECK(
      q.defined() && k.defined() && v.defined() && q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
      kOp, ": expected q [B, Hq, L, D] and k, v [B, Hkv, L, D]");
  XOMNI_CHECK(q.size(2) == k.size(2) && k.shape() == v.shape(), kOp,
              ": q, k and v must hold the same tokens, got q ", shape_str(q.shape()), ", k ",
              shape_str(k.shape()), ", v ", shape_str(v.shape()));
  if (opt.segment_ids.defined()) {
    check_dtype(kOp, opt.segment_ids, {DType::i32, DType::i64});
    XOMNI_CHECK(opt.segment_ids.shape() == Shape({q.size(0), q.size(2)}), kOp, ": segment_ids ",
                shape_str(opt.segment_ids.shape()), " must be [B, L] = [", q.size(0), ", ",
                q.size(2), "]");
  }
  if (cp.size() == 1) {
    AttentionOptions o;
    o.causal = opt.causal;
    o.scale = opt.scale;
    o.q_segment_ids = opt.segment_ids;
    o.k_segment_ids = opt.segment_ids;
    return scaled_dot_product_attention(q, k, v, o);
  }
  XOMNI_CHECK(q.size(2) % 2 == 0, kOp, ": this rank's ", q.size(2),
              " tokens are not two equal zigzag chunks (pad the sequence to "
              "zigzag_padded_length)");
  Saved s;
  s.causal = opt.causal;
  s.scale = opt.scale;
  s.cp = cp;
  {
    NoGradGuard no_grad;
    s.q = q.detach().contiguous();
    s.k = k.detach().contiguous();
    s.v = v.detach().contiguous();
    if (opt.segment_ids.defined()) {
      s.segs.resize(size_t(cp.size()));
      s.segs[size_t(cp.rank())] = opt.segment_ids.to(DType::i64).contiguous();
    }
    forward(s);
  }
  const Tensor out = s.out;
  s.out = out.detach();  // the node must not hold its own output (a reference cycle)
  return record(out, kOp, {q, k, v}, [s = std::move(s)](const Tensor& g, const std::vector<bool>&) {
    NoGradGuard no_grad;
    return backward(s, g);
  });
}

}  // namespace xomni::parallel
