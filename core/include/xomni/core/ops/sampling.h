#pragma once
// Token sampling helpers (no autograd). logits [N, V] f32/f64; results i64 [N].
#include "xomni/core/tensor/random.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni {

Tensor greedy(const Tensor& logits);  // argmax over the last dim
// Keeps the k largest logits per row, sets the rest to -inf.
Tensor top_k_filter(const Tensor& logits, int64_t k);
// Keeps the smallest set of largest-probability tokens whose mass reaches p (always >= 1 token).
Tensor top_p_filter(const Tensor& logits, double p);
// Samples one index per row from softmax(logits / temperature); temperature 0 means greedy.
Tensor multinomial(const Tensor& logits, Generator& gen, double temperature = 1.0);

}  // namespace xomni
