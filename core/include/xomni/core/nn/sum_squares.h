#pragma once
// The sum of squares behind every gradient norm (clip_grad_norm, the distributed optimizer's):
// accumulated in double over fixed blocks, so the result is the same at any thread count; and
// the in-place scaling that clips the gradients.
#include "xomni/core/tensor/tensor.h"

namespace xomni {

// t: contiguous f32 or f64.
double sum_of_squares(const Tensor& t);

// t *= T(factor) elementwise, threaded (the factor is rounded to t's dtype once). t: contiguous
// f32 or f64.
void scale_in_place(const Tensor& t, double factor);

}  // namespace xomni
