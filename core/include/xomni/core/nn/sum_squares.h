#pragma once
// The sum of squares behind every gradient norm (clip_grad_norm, the distributed optimizer's):
// accumulated in double over fixed blocks, so the result is the same at any thread count.
#include "xomni/core/tensor/tensor.h"

namespace xomni {

// t: contiguous f32 or f64.
double sum_of_squares(const Tensor& t);

}  // namespace xomni
