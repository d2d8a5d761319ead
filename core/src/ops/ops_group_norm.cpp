// group_norm: argument checks and autograd around the fused kernels (cpu/group_norm.cpp).
#include <algorithm>
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
void check_affine(const char* what, const Tensor& t, const Tensor& x, int64_t C) {
  if (!t.defined()) return;
  check_same_dtype("group_norm", x, t);
  XOMNI_CHECK(t.dim() == 1 && t.shape()[0] == C, "group_norm: ", what, " must be [", C,
              "] for input ", shape_str(x.shape()), ", got ", shape_str(t.shape()));
}
}  // namespace

Tensor group_norm(const Tensor& x_in, int64_t groups, const Tensor& w_in, const Tensor& b_in,
                  double eps) {
  check_dtype("group_norm", x_in, {DType::f32, DType::f64});
  XOMNI_CHECK(x_in.dim() >= 2, "group_norm: input must be [N, C, *], got shape ",
              shape_str(x_in.shape()));
  const int64_t C = x_in.shape()[1];
  XOMNI_CHECK(groups >= 1 && C % groups == 0, "group_norm: ", C, " channels of input ",
              shape_str(x_in.shape()), " do not split into ", groups, " groups");
  check_affine("weight", w_in, x_in, C);
  check_affine("bias", b_in, x_in, C);
  const Tensor x = x_in.contiguous();
  const Tensor w = w_in.defined() ? w_in.contiguous() : Tensor();
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  const NormForward f = kernels_for(x.device()).group_norm(x, groups, w, b, eps);
  return record(f.out, "group_norm", {x_in, w_in, b_in},
                [x, groups, w, mean = f.mean, rstd = f.rstd](const Tensor& g_in,
                                                             const std::vector<bool>& needs) {
                  return kernels_for(x.device())
                      .group_norm_backward(x, groups, w, g_in.contiguous(), mean, rstd, needs);
                });
}

}  // namespace xomni
