// Rotary position embedding, rotate-half layout (dimension i pairs with i + D/2), as in
// Qwen2/Llama, on one tensor (rope) or on q and k together (rope_qk); the kernels are cpu/rope.cpp.
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/multi_output.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

void check_rope_args(const char* op, const Tensor& x, const Tensor& positions, double theta) {
  check_dtype(op, x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() == 4 && x.shape()[3] % 2 == 0, op,
              ": input must be [B, T, H, D] with even D, got ", shape_str(x.shape()));
  check_dtype(op, positions, {DType::i32, DType::i64});
  const Shape bt{x.shape()[0], x.shape()[1]};
  XOMNI_CHECK((positions.dim() == 1 && positions.shape()[0] == bt[1]) ||
                  (positions.dim() == 2 && positions.shape() == bt),
              op, ": positions of shape ", shape_str(positions.shape()), " do not match input ",
              shape_str(x.shape()), " (expected [T] or [B, T])");
  XOMNI_CHECK(theta > 0, op, ": theta must be positive, got ", theta);
}
}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta) {
  check_rope_args("rope", x, positions, theta);
  const Tensor pos = positions.contiguous();
  Tensor out = kernels_for(x.device()).rope(x.contiguous(), pos, theta, false);
  return record(out, "rope", {x}, [pos, theta](const Tensor& g, const std::vector<bool>&) {
    return Grads{kernels_for(g.device()).rope(g.contiguous(), pos, theta, true)};
  });
}

RopeQK rope_qk(const Tensor& q_in, const Tensor& k_in, const Tensor& positions, double theta) {
  constexpr const char* op = "rope_qk";
  check_rope_args(op, q_in, positions, theta);
  check_same_dtype(op, q_in, k_in);
  check_same_device(op, q_in, k_in);
  XOMNI_CHECK(k_in.dim() == 4 && k_in.shape()[0] == q_in.shape()[0] &&
                  k_in.shape()[1] == q_in.shape()[1] && k_in.shape()[3] == q_in.shape()[3],
              op, ": k ", shape_str(k_in.shape()),
              " must be [B, T, Hk, D] with q's B, T and D (q is ", shape_str(q_in.shape()), ")");
  const Tensor pos = positions.contiguous();
  const Grads out =
      kernels_for(q_in.device()).rope_qk(q_in.contiguous(), k_in.contiguous(), pos, theta, false);
  const Shape q_shape = out[0].shape(), k_shape = out[1].shape();
  auto backward = [pos, theta, q_shape, k_shape](const Grads& g, const std::vector<bool>& need) {
    // An output no gradient reached contributes zeros.
    const Tensor gq =
        g[0].defined() ? g[0].contiguous() : Tensor::zeros(q_shape, g[1].dtype(), g[1].device());
    const Tensor gk =
        g[1].defined() ? g[1].contiguous() : Tensor::zeros(k_shape, gq.dtype(), gq.device());
    Grads in = kernels_for(gq.device()).rope_qk(gq, gk, pos, theta, true);
    if (!need[0]) in[0] = Tensor();
    if (!need[1]) in[1] = Tensor();
    return in;
  };
  const Grads outs = record_multi(out, op, {q_in, k_in}, backward);
  return {outs[0], outs[1]};
}

}  // namespace xomni
