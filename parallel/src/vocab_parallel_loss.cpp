// Cross-entropy over a vocabulary split across the tensor-parallel group. Each rank sees its
// slice of every row's logits; three all-reduces give the row maximum, the sum of exponentials
// and the target's logit, so no rank ever holds a whole row:
//   loss = log(sum_v exp(l_v - m)) + m - l_target
//   dloss/dl_v = softmax_v - [v == target]
#include <cmath>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/tp_layers.h"

namespace xomni::parallel {
namespace {
void all_reduce_if(const TensorParallel& tp, const Tensor& t, ReduceOp op) {
  if (tp.size() > 1) tp.comm->all_reduce(t, op);
}
}  // namespace

Tensor vocab_parallel_cross_entropy(const Tensor& logits_in, const Tensor& targets_in,
                                    int64_t vocab_start, const TensorParallel& tp,
                                    int64_t ignore_index) {
  XOMNI_CHECK(logits_in.dim() == 2 && logits_in.dtype() == DType::f32 && targets_in.dim() == 1 &&
                  targets_in.size(0) == logits_in.size(0),
              "vocab_parallel_cross_entropy: logits ", shape_str(logits_in.shape()),
              " (f32) and targets ", shape_str(targets_in.shape()), " must be [N, V/tp] and [N]");
  const Tensor logits = logits_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const int64_t N = logits.size(0), V = logits.size(1);
  const float* x = logits.data<float>();
  const int64_t* t = targets.data<int64_t>();
  const int64_t vocab = V * tp.size();
  for (int64_t r = 0; r < N; ++r)
    XOMNI_CHECK(t[r] == ignore_index || (t[r] >= 0 && t[r] < vocab),
                "vocab_parallel_cross_entropy: target ", t[r], " at row ", r,
                " is outside the vocabulary [0, ", vocab, ") and is not the ignore index ",
                ignore_index);

  Tensor row_max = Tensor::empty({N});
  float* m = row_max.data<float>();
  for (int64_t r = 0; r < N; ++r) {
    float best = -INFINITY;
    for (int64_t c = 0; c < V; ++c) best = std::max(best, x[r * V + c]);
    m[r] = best;
  }
  all_reduce_if(tp, row_max, ReduceOp::max);

  // Sums of exponentials (f64 for accuracy; the reduction order across ranks is fixed) and the
  // target logits (0 on ranks that do not hold the target).
  Tensor sum_exp = Tensor::zeros({N}, DType::f64);
  Tensor target_logit = Tensor::zeros({N}, DType::f64);
  double* s = sum_exp.data<double>();
  double* tl = target_logit.data<double>();
  for (int64_t r = 0; r < N; ++r) {
    const float* xr = x + r * V;
    float acc = 0;
    for (int64_t c = 0; c < V; ++c) acc += std::exp(xr[c] - m[r]);
    s[r] = acc;
    const int64_t local = t[r] - vocab_start;
    if (t[r] != ignore_index && local >= 0 && local < V) tl[r] = xr[local];
  }
  all_reduce_if(tp, sum_exp, ReduceOp::sum);
  all_reduce_if(tp, target_logit, ReduceOp::sum);

  Tensor loss = Tensor::empty({N});
  float* lp = loss.data<float>();
  for (int64_t r = 0; r < N; ++r)
    lp[r] = t[r] == ignore_index ? 0.0f : float(std::log(s[r]) + double(m[r]) - tl[r]);

  return record(loss, "vocab_parallel_cross_entropy", {logits_in},
                [logits, targets, row_max, sum_exp, vocab_start, ignore_index](
                    const Tensor& g_in, const std::vector<bool>&) -> std::vector<Tensor> {
                  const Tensor g = g_in.contiguous();
                  const int64_t n = logits.size(0), v = logits.size(1);
                  Tensor grad = Tensor::empty({n, v});
                  const float* xp = logits.data<float>();
                  const int64_t* tp_ = targets.data<int64_t>();
                  const float* mp = row_max.data<float>();
                  const double* sp = sum_exp.data<double>();
                  const float* gp = g.data<float>();
                  float* out = grad.data<float>();
                  for (int64_t r = 0; r < n; ++r) {
                    float* orow = out + r * v;
                    if (tp_[r] == ignore_index) {
                      for (int64_t c = 0; c < v; ++c) orow[c] = 0.0f;
                      continue;
                    }
                    const float scale = float(double(gp[r]) / sp[r]);
                    for (int64_t c = 0; c < v; ++c)
                      orow[c] = std::exp(xp[r * v + c] - mp[r]) * scale;
                    const int64_t local = tp_[r] - vocab_start;
                    if (local >= 0 && local < v) orow[local] -= gp[r];
                  }
                  return {grad};
                });
}

}  // namespace xomni::parallel
