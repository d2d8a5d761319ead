#pragma once
// Token sampling helpers (no autograd). logits [N, V] f32/f64; results i64 [N].
//
// A column at or below its dtype's lowest finite value (or -inf) is *closed*: X-Omni's mode rows
// put the other modality's columns there. sample() never draws a closed column, and no filter
// reopens one.
#include "xomni/core/tensor/random.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni {

Tensor greedy(const Tensor& logits);  // argmax over the last dim
// Keeps the k largest logits per row, sets the rest to -inf.
Tensor top_k_filter(const Tensor& logits, int64_t k);
// Keeps the smallest set of largest-probability tokens whose mass reaches p (always >= 1 token).
Tensor top_p_filter(const Tensor& logits, double p);
// Keeps the tokens whose probability is >= min_p * the row's largest probability (min_p in
// [0, 1]; 0 keeps every open token); the rest become -inf.
Tensor min_p_filter(const Tensor& logits, double min_p);
// Samples one index per row from softmax(logits / temperature); temperature 0 means greedy.
Tensor multinomial(const Tensor& logits, Generator& gen, double temperature = 1.0);

// What sample() does to each row (defaults: X-Omni's image sampling).
struct SamplingOptions {
  double temperature = 1.0;  // >= 0; 0 is greedy (the filters then change nothing)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // (0, 1]; 1: off
  double min_p = 0.0;        // [0, 1]; 0: off
};
// Closes the lowest-valued columns, then applies temperature, top-k, top-p and min-p in this
// order and draws one token per row with `gen`. Throws naming the row when it has no open column.
Tensor sample(const Tensor& logits, const SamplingOptions& options, Generator& gen);

// Classifier-free guidance on [N, V] rows: scale * (log_softmax(cond) - log_softmax(uncond)) +
// log_softmax(uncond), in f64, returned in cond's dtype. The softmaxes run over the open columns;
// a column closed in either input is -inf in the result. scale 1 gives log_softmax(cond).
Tensor cfg_combine(const Tensor& cond, const Tensor& uncond, double scale);

}  // namespace xomni
