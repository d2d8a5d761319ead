// layer_norm, rms_norm and add_rms_norm over the last dimension: argument checks and autograd
// around the fused forward and backward kernels (cpu/norm.cpp).
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/multi_output.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

void check_norm_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  check_dtype(op, x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() >= 1, op, ": input must have at least one dimension");
  const int64_t n = x.shape().back();
  for (const Tensor* p : {&w, &b}) {
    if (!p->defined()) continue;
    check_same_dtype(op, x, *p);
    XOMNI_CHECK(p->dim() == 1 && p->shape()[0] == n, op, ": parameter of shape ",
                shape_str(p->shape()), " does not match the normalised size of input ",
                shape_str(x.shape()));
  }
}

// Kernels always read a weight and a bias (ones / zeros when absent): a pointer that may be null
// would stop the compiler from vectorising the loads.
Tensor param_or(const Tensor& p, const Tensor& x, double fill) {
  return p.defined() ? p.contiguous()
                     : Tensor::full({x.shape().back()}, fill, x.dtype(), x.device());
}

}  // namespace

Tensor layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps) {
  check_norm_args("layer_norm", x_in, weight, bias);
  const Tensor x = x_in.contiguous();
  const Tensor w = param_or(weight, x, 1.0), b = param_or(bias, x, 0.0);
  const NormForward f = kernels_for(x.device()).layer_norm(x, w, b, eps);
  auto backward = [x, w, mean = f.mean, rstd = f.rstd](const Tensor& g_in,
                                                       const std::vector<bool>& need) {
    Grads grads = kernels_for(x.device()).layer_norm_backward(x, w, g_in.contiguous(), mean, rstd);
    if (!need[1]) grads[1] = Tensor();
    if (!need[2]) grads[2] = Tensor();
    return grads;
  };
  return record(f.out, "layer_norm", {x_in, weight, bias}, backward);
}

Tensor rms_norm(const Tensor& x_in, const Tensor& weight, double eps) {
  check_norm_args("rms_norm", x_in, weight, Tensor());
  const Tensor x = x_in.contiguous();
  const Tensor w = param_or(weight, x, 1.0);
  const NormForward f = kernels_for(x.device()).rms_norm(x, w, eps);
  auto backward = [x, w, rstd = f.rstd](const Tensor& g_in, const std::vector<bool>& need) {
    Grads grads = kernels_for(x.device()).rms_norm_backward(x, w, g_in.contiguous(), rstd);
    if (!need[1]) grads[1] = Tensor();
    return grads;
  };
  return record(f.out, "rms_norm", {x_in, weight}, backward);
}

AddRmsNorm add_rms_norm(const Tensor& x_in, const Tensor& residual_in, const Tensor& weight,
                        double eps) {
  constexpr const char* op = "add_rms_norm";
  check_norm_args(op, x_in, weight, Tensor());
  check_same_dtype(op, x_in, residual_in);
  check_same_device(op, x_in, residual_in);
  XOMNI_CHECK(residual_in.shape() == x_in.shape(), op, ": residual of shape ",
              shape_str(residual_in.shape()), " does not match input ", shape_str(x_in.shape()));
  const Tensor x = x_in.contiguous(), r = residual_in.contiguous();
  const Tensor w = param_or(weight, x, 1.0);
  const AddNormForward f = kernels_for(x.device()).add_rms_norm(x, r, w, eps);
  // Both outputs share one backward: the norm's input gradient and the sum's own in one pass.
  auto backward = [sum = f.sum, w, rstd = f.rstd](const Grads& g, const std::vector<bool>& need) {
    const Tensor g_sum = g[0].defined() ? g[0].contiguous() : Tensor();
    const Tensor g_out = g[1].defined() ? g[1].contiguous() : Tensor();
    if (!g_sum.defined() && !g_out.defined()) return Grads(3);
    Grads k = kernels_for(sum.device()).add_rms_norm_backward(sum, w, rstd, g_sum, g_out);
    return Grads{need[0] ? k[0] : Tensor(), need[1] ? k[0] : Tensor(), need[2] ? k[1] : Tensor()};
  };
  const Grads outs = record_multi({f.sum, f.out}, op, {x_in, residual_in, weight}, backward);
  return {outs[0], outs[1]};
}

}  // namespace xomni
