#pragma once
// Internal: the CPU kernels behind xomni/core/ops/linear_cross_entropy.h. Operands are checked and
// contiguous: hidden [N, H], weight [V, H] (one float dtype), targets i64 [N]; chunk in [1, V].
#include "xomni/core/ops/linear_cross_entropy.h"

namespace xomni::cpu {

LinearCrossEntropyStats linear_cross_entropy_stats(const Tensor& hidden, const Tensor& weight,
                                                   const Tensor& targets, int64_t vocab_start,
                                                   int64_t ignore_index, int64_t chunk);

std::vector<Tensor> linear_cross_entropy_backward(const Tensor& hidden, const Tensor& weight,
                                                  const Tensor& targets, const Tensor& lse,
                                                  const Tensor& g, int64_t vocab_start,
                                                  int64_t ignore_index,
                                                  const std::vector<bool>& needs, int64_t chunk);

}  // namespace xomni::cpu
