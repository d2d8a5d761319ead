// CPU attention entry points: the tiled forward and backward (attention_forward.cpp,
// attention_backward.cpp) on the operands' buffers, and the lse marker swap.
#include "ops/cpu/attention_tiles.h"
#include "ops/cpu/cpu_kernels.h"

namespace xomni::cpu {
namespace {
constexpr const char* kOp = "scaled_dot_product_attention";

attn::Problem problem_of(const AttentionInputs& in) {
  attn::Problem p;
  p.B = in.q.size(0);
  p.Hq = in.q.size(1);
  p.Tq = in.q.size(2);
  p.D = in.q.size(3);
  p.Hkv = in.k.size(1);
  p.Tk = in.k.size(2);
  p.scale = in.scale;
  p.causal = in.causal;
  if (in.q_seg.defined()) {
    p.q_seg = in.q_seg.data<int64_t>();
    p.k_seg = in.k_seg.data<int64_t>();
  }
  if (in.pad.defined()) p.pad = in.pad.data<uint8_t>();
  return p;
}
}  // namespace

void attention_forward(const AttentionInputs& in, const Tensor& out, const Tensor& lse) {
  dispatch_float(kOp, in.q.dtype(), [&]<typename T>() {
    attn::forward<T>(problem_of(in), in.q.data<T>(), in.k.data<T>(), in.v.data<T>(), out.data<T>(),
                     lse.data<T>());
  });
}

void attention_backward(const AttentionInputs& in, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  dispatch_float(kOp, in.q.dtype(), [&]<typename T>() {
    attn::backward<T>(problem_of(in), in.q.data<T>(), in.k.data<T>(), in.v.data<T>(), out.data<T>(),
                      lse.data<T>(), dout.data<T>(), dq.defined() ? dq.data<T>() : nullptr,
                      dk.defined() ? dk.data<T>() : nullptr, dv.defined() ? dv.data<T>() : nullptr);
  });
}

Tensor replace_value(const Tensor& t, double from, double to) {
  Tensor r = t.contiguous().clone();
  dispatch_float(kOp, r.dtype(), [&]<typename T>() {
    T* x = r.data<T>();
    for (int64_t i = 0; i < r.numel(); ++i)
      if (x[i] == T(from)) x[i] = T(to);
  });
  return r;
}

}  // namespace xomni::cpu
