#pragma once
// Fused decoder-layer ops: one pass over memory where the plain composition makes several (and
// the same for their backward). Each equals its composition up to rounding.
#include "xomni/core/tensor/tensor.h"

namespace xomni {

// sum = x + residual and normed = rms_norm(sum, weight, eps), both differentiable. x, residual:
// one shape; weight [last dim] or undefined (ones).
struct AddRmsNorm {
  Tensor sum, normed;
};
AddRmsNorm add_rms_norm(const Tensor& x, const Tensor& residual, const Tensor& weight, double eps);

// silu(gate) * up for gate and up of one shape; the backward recomputes the sigmoid.
Tensor swiglu(const Tensor& gate, const Tensor& up);

// rope (rotate-half, as `rope`) on q [B, T, Hq, D] and k [B, T, Hk, D] with one set of angles,
// written into fresh contiguous [B, H, T, D] tensors (attention's layout): the same values as
// transpose(rope(x, positions, theta), 1, 2) without the transposed copy. Out of place, so the
// projections' outputs stay as autograd saved them. positions [T] or [B, T], i32 or i64.
struct RopeQK {
  Tensor q, k;
};
RopeQK rope_qk(const Tensor& q, const Tensor& k, const Tensor& positions, double theta);

}  // namespace xomni
