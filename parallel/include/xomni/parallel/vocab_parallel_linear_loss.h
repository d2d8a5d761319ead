#pragma once
// The LM head fused with cross-entropy (xomni/core/ops/linear_cross_entropy.h) over a vocabulary
// split across the tensor-parallel group: each rank holds the head's rows for its vocabulary
// range and walks them in chunks; neither the rank's [N, V/tp] logits nor anyone's whole rows
// are ever held.
#include "xomni/parallel/tensor_parallel.h"

namespace xomni::parallel {

// hidden [N, H] (the same on every rank: pass it through copy_to_tp, or gather_sequence under
// sequence parallelism, so that its gradient is summed over the group), weight [V/tp, H] this
// rank's head rows starting at global id vocab_start, targets [N] global ids (ignore_index rows
// give 0). Two all-reduces (row max; then sums of exponentials and target logits together).
// Returns the per-row nll [N], the same on every rank; differentiable in hidden and weight, with
// a backward that needs no communication.
Tensor vocab_parallel_linear_cross_entropy(const Tensor& hidden, const Tensor& weight,
                                           const Tensor& targets, int64_t vocab_start,
                                           const TensorParallel& tp, int64_t ignore_index = -100,
                                           int64_t chunk = 0);

}  // namespace xomni::parallel
