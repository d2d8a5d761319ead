// scaled_dot_product_attention: argument checks, mask preparation and autograd wiring around
// the tiled kernels (cpu/attention*.cpp); and the same kernels without autograd
// (attention_forward_lse / attention_backward_lse) for callers that split the keys into blocks and
// merge the results themselves (ring attention).
#include <cmath>
#include <limits>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
constexpr const char* kOp = "scaled_dot_product_attention";

std::string qkv_str(const Tensor& q, const Tensor& k, const Tensor& v) {
  return detail::concat("q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ",
                        shape_str(v.shape()));
}

AttentionInputs prepare(const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionOptions& opt) {
  check_dtype(kOp, q, {DType::f32, DType::f64});
  check_same_dtype(kOp, q, k);
  check_same_dtype(kOp, q, v);
  check_same_device(kOp, q, k);
  check_same_device(kOp, q, v);
  const std::string shapes = qkv_str(q, k, v);
  XOMNI_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kOp,
              ": expected q [B, Hq, Tq, D] and k, v [B, Hkv, Tk, D], got ", shapes);
  XOMNI_CHECK(k.shape() == v.shape(), kOp, ": k and v must have the same shape, got ", shapes);
  XOMNI_CHECK(q.size(0) == k.size(0), kOp, ": batch sizes differ, got ", shapes);
  XOMNI_CHECK(q.size(3) == k.size(3), kOp, ": head dims differ, got ", shapes);
  XOMNI_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, kOp,
              ": query heads must be a multiple of kv heads (Hq % Hkv == 0), got ", shapes);
  const int64_t B = q.size(0), Tq = q.size(2), Tk = k.size(2);
  AttentionInputs in;
  in.q = q.contiguous();
  in.k = k.contiguous();
  in.v = v.contiguous();
  in.causal = opt.causal;
  in.scale = opt.scale ? *opt.scale : 1.0 / std::sqrt(double(std::max<int64_t>(q.size(3), 1)));
  XOMNI_CHECK(opt.q_segment_ids.defined() == opt.k_segment_ids.defined(), kOp,
              ": give both q_segment_ids and k_segment_ids or neither");
  if (opt.q_segment_ids.defined()) {
    const Tensor& qs = opt.q_segment_ids;
    const Tensor& ks = opt.k_segment_ids;
    check_dtype(kOp, qs, {DType::i32, DType::i64});
    check_dtype(kOp, ks, {DType::i32, DType::i64});
    XOMNI_CHECK(qs.shape() == Shape({B, Tq}) && ks.shape() == Shape({B, Tk}), kOp,
                ": q_segment_ids ", shape_str(qs.shape()), " and k_segment_ids ",
                shape_str(ks.shape()), " must be [B, Tq] and [B, Tk] for ", shapes);
    in.q_seg = qs.to(DType::i64).contiguous();
    in.k_seg = ks.to(DType::i64).contiguous();
  }
  if (opt.key_padding_mask.defined()) {
    const Tensor& m = opt.key_padding_mask;
    check_dtype(kOp, m, {DType::u8});
    XOMNI_CHECK(m.shape() == Shape({B, Tk}), kOp, ": key_padding_mask ", shape_str(m.shape()),
                " must be [B, Tk] for ", shapes);
    in.pad = m.contiguous();
  }
  return in;
}

bool empty_problem(const AttentionInputs& in) {
  return in.q.numel() == 0 || in.k.numel() == 0;
}

// The kernels mark a row with no visible key by lse = +inf (so exp(s - lse) = 0 in the
// backward); the public functions use the logsumexp of nothing, -inf. Swaps one for the other
// in a copy.
Tensor flip_empty_rows(const Tensor& lse, double from, double to) {
  return kernels_for(lse.device()).replace_value(lse, from, to);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& opt) {
  const AttentionInputs in = prepare(q, k, v, opt);
  // The kernel writes every element; only an empty problem leaves the zeros.
  Tensor out = empty_problem(in) ? Tensor::zeros(in.q.shape(), in.q.dtype(), in.q.device())
                                 : Tensor::empty(in.q.shape(), in.q.dtype(), in.q.device());
  Tensor lse = Tensor::full({in.q.size(0), in.q.size(1), in.q.size(2)},
                            std::numeric_limits<double>::infinity(), in.q.dtype(), in.q.device());
  if (!empty_problem(in)) kernels_for(in.q.device()).attention_forward(in, out, lse);
  return record(out, kOp, {q, k, v},
                [in, lse, o = out.detach()](const Tensor& g_in, const std::vector<bool>& needs) {
                  Tensor dq, dk, dv;
                  if (needs[0]) dq = Tensor::zeros(in.q.shape(), in.q.dtype(), in.q.device());
                  if (needs[1]) dk = Tensor::zeros(in.k.shape(), in.k.dtype(), in.q.device());
                  if (needs[2]) dv = Tensor::zeros(in.v.shape(), in.v.dtype(), in.q.device());
                  if (empty_problem(in)) return std::vector<Tensor>{dq, dk, dv};
                  const Tensor g = g_in.contiguous();
                  kernels_for(in.q.device()).attention_backward(in, o, lse, g, dq, dk, dv);
                  return std::vector<Tensor>{dq, dk, dv};
                });
}

AttentionWithLse attention_forward_lse(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const AttentionOptions& opt) {
  const AttentionInputs in = prepare(q, k, v, opt);
  Tensor out = empty_problem(in) ? Tensor::zeros(in.q.shape(), in.q.dtype(), in.q.device())
                                 : Tensor::empty(in.q.shape(), in.q.dtype(), in.q.device());
  Tensor lse =
      Tensor::full({in.q.size(0), in.q.size(1), in.q.size(2)}, kInf, in.q.dtype(), in.q.device());
  if (!empty_problem(in)) kernels_for(in.q.device()).attention_forward(in, out, lse);
  return {out, flip_empty_rows(lse, kInf, -kInf)};
}

std::vector<Tensor> attention_backward_lse(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& out, const Tensor& lse, const Tensor& dout,
                                           const AttentionOptions& opt) {
  constexpr const char* op = "attention_backward_lse";
  const AttentionInputs in = prepare(q, k, v, opt);
  const Shape rows{in.q.size(0), in.q.size(1), in.q.size(2)};
  for (const Tensor* t : {&out, &lse, &dout}) {
    XOMNI_CHECK(t->defined(), op, ": out, lse and dout must be defined");
    check_same_dtype(op, q, *t);
    check_same_device(op, q, *t);
  }
  XOMNI_CHECK(out.shape() == in.q.shape() && dout.shape() == in.q.shape() && lse.shape() == rows,
              op, ": expected out and dout ", shape_str(in.q.shape()), " and lse ", shape_str(rows),
              ", got out ", shape_str(out.shape()), ", dout ", shape_str(dout.shape()), ", lse ",
              shape_str(lse.shape()));
  Tensor dq = Tensor::zeros(in.q.shape(), in.q.dtype(), in.q.device());
  Tensor dk = Tensor::zeros(in.k.shape(), in.k.dtype(), in.q.device());
  Tensor dv = Tensor::zeros(in.v.shape(), in.v.dtype(), in.q.device());
  if (empty_problem(in)) return {dq, dk, dv};
  const Tensor o = out.contiguous(), g = dout.contiguous();
  const Tensor l = flip_empty_rows(lse, -kInf, kInf);
  kernels_for(in.q.device()).attention_backward(in, o, l, g, dq, dk, dv);
  return {dq, dk, dv};
}

}  // namespace xomni
