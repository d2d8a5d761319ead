// Cross-entropy over class logits with an ignore index: checks and autograd around the kernels
// (cpu/loss.cpp).
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {

Tensor cross_entropy(const Tensor& logits_in, const Tensor& targets_in, int64_t ignore_index,
                     Reduction reduction) {
  check_dtype("cross_entropy", logits_in, {DType::f32, DType::f64});
  check_dtype("cross_entropy", targets_in, {DType::i32, DType::i64});
  XOMNI_CHECK(logits_in.dim() == 2 && targets_in.dim() == 1 &&
                  targets_in.shape()[0] == logits_in.shape()[0],
              "cross_entropy: logits ", shape_str(logits_in.shape()), " and targets ",
              shape_str(targets_in.shape()), " must be [N, C] and [N]");
  const Tensor logits = logits_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const CrossEntropyForward f =
      kernels_for(logits.device()).cross_entropy(logits, targets, ignore_index, reduction);
  return record(f.out, "cross_entropy", {logits_in},
                [logits, targets, lse = f.lse, ignore_index, reduction, counted = f.counted](
                    const Tensor& g_in, const std::vector<bool>&) {
                  return std::vector<Tensor>{
                      kernels_for(logits.device())
                          .cross_entropy_backward(logits, targets, lse, g_in.contiguous(),
                                                  ignore_index, reduction, counted)};
                });
}

}  // namespace xomni
