#pragma once
// The LM head fused with cross-entropy: per-row nll of softmax(hidden weight^T) without ever
// holding the [N, V] logits. The vocabulary is walked in chunks: one GEMM into a reused
// [N, chunk] buffer, then an online log-sum-exp per row; the backward recomputes each chunk's
// logits and turns them into the chunk's share of both gradients with two more GEMMs.
// CPU, f32 and f64; no bias (the heads this serves have none).
#include <cstdint>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

// Per-row statistics of the logits hidden [N, H] x weight [V, H]^T over the vocabulary rows that
// `weight` holds (global ids vocab_start .. vocab_start + V - 1), all f64 [N]:
struct LinearCrossEntropyStats {
  Tensor row_max;       // max_v l_v
  Tensor sum_exp;       // sum_v exp(l_v - row_max)
  Tensor target_logit;  // the target's logit where weight holds the target, else 0
};

// A vocabulary chunk of 0 picks one from N so the [N, chunk] buffer stays near 2 MB.
int64_t linear_cross_entropy_chunk(int64_t rows, int64_t vocab, DType dtype, int64_t chunk = 0);

// The statistics above (no autograd). targets [N] i32/i64; rows whose target is ignore_index
// get target_logit 0; targets outside this weight's range are not an error here (they belong
// to another rank's piece).
LinearCrossEntropyStats linear_cross_entropy_stats(const Tensor& hidden, const Tensor& weight,
                                                   const Tensor& targets, int64_t vocab_start,
                                                   int64_t ignore_index, int64_t chunk = 0);

// Gradients of sum_r g[r] * nll[r] given each row's global log-sum-exp `lse` (f64 [N]) and the
// upstream gradient g [N] (hidden's dtype): {d hidden [N, H], d weight [V, H]}, each computed
// only where `needs` ({hidden, weight}) asks. Ignored rows contribute nothing.
std::vector<Tensor> linear_cross_entropy_backward(const Tensor& hidden, const Tensor& weight,
                                                  const Tensor& targets, const Tensor& lse,
                                                  const Tensor& g, int64_t vocab_start,
                                                  int64_t ignore_index,
                                                  const std::vector<bool>& needs,
                                                  int64_t chunk = 0);

// cross_entropy(linear(hidden, weight), targets, ignore_index, Reduction::none) without the
// logits: hidden [N, H], weight [V, H] (same float dtype), targets [N] in [0, V) or ignore_index.
// Returns the per-row nll [N] (0 at ignored rows); differentiable in hidden and weight.
Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                            int64_t ignore_index = -100, int64_t chunk = 0);

}  // namespace xomni
