// The fused LM head and cross-entropy over a vocabulary split across the tensor-parallel group.
// Each rank computes its piece's per-row (max, sum of exponentials, target logit) chunk by chunk;
// the group combines them:
//   m = max over ranks of m_r,  S = sum over ranks of S_r exp(m_r - m),  lse = m + log S,
//   nll = lse - (the owning rank's target logit; 0 elsewhere, so a sum finds it)
// The backward is each rank's own: its rows of d weight and its share of d hidden, which the
// copy_to_tp (or gather_sequence) that fed `hidden` sums over the group.
#include "xomni/parallel/vocab_parallel_linear_loss.h"

#include <cmath>

#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::parallel {

Tensor vocab_parallel_linear_cross_entropy(const Tensor& hidden_in, const Tensor& weight,
                                           const Tensor& targets_in, int64_t vocab_start,
                                           const TensorParallel& tp, int64_t ignore_index,
                                           int64_t chunk) {
  XOMNI_CHECK(hidden_in.dim() == 2 && weight.dim() == 2 && targets_in.dim() == 1 &&
                  hidden_in.size(1) == weight.size(1) && targets_in.size(0) == hidden_in.size(0),
              "vocab_parallel_linear_cross_entropy: hidden ", shape_str(hidden_in.shape()),
              ", weight ", shape_str(weight.shape()), " and targets ",
              shape_str(targets_in.shape()), " must be [N, H], [V/tp, H] and [N]");
  const Tensor hidden = hidden_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const int64_t N = hidden.size(0), vocab = weight.size(0) * tp.size();
  const int64_t* t = targets.data<int64_t>();
  for (int64_t r = 0; r < N; ++r)
    XOMNI_CHECK(t[r] == ignore_index || (t[r] >= 0 && t[r] < vocab),
                "vocab_parallel_linear_cross_entropy: target ", t[r], " at row ", r,
                " is outside the vocabulary [0, ", vocab, ") and is not the ignore index ",
                ignore_index);

  const LinearCrossEntropyStats s =
      linear_cross_entropy_stats(hidden, weight, targets, vocab_start, ignore_index, chunk);
  Tensor row_max = s.row_max.clone();
  if (tp.size() > 1) tp.comm->all_reduce(row_max, ReduceOp::max);
  // Row r of `sums` is this rank's sum of exponentials rescaled to the group's max; row N + r its
  // target logit. One all-reduce adds both.
  Tensor sums = Tensor::empty({2 * N}, DType::f64);
  const double *m_local = s.row_max.data<double>(), *e_local = s.sum_exp.data<double>(),
               *tl_local = s.target_logit.data<double>();
  const double* m = row_max.data<double>();
  double* sp = sums.data<double>();
  for (int64_t r = 0; r < N; ++r) {
    sp[r] = e_local[r] * std::exp(m_local[r] - m[r]);
    sp[N + r] = tl_local[r];
  }
  if (tp.size() > 1) tp.comm->all_reduce(sums, ReduceOp::sum);

  Tensor lse = Tensor::empty({N}, DType::f64), nll = Tensor::empty({N}, DType::f64);
  double *lp = lse.data<double>(), *np = nll.data<double>();
  for (int64_t r = 0; r < N; ++r) {
    lp[r] = m[r] + std::log(sp[r]);
    np[r] = t[r] == ignore_index ? 0.0 : lp[r] - sp[N + r];
  }
  return record(nll.to(hidden.dtype()), "vocab_parallel_linear_cross_entropy", {hidden_in, weight},
                [hidden, weight, targets, lse, vocab_start, ignore_index, chunk](
                    const Tensor& g, const std::vector<bool>& needs) {
                  return linear_cross_entropy_backward(hidden, weight, targets, lse, g, vocab_start,
                                                       ignore_index, needs, chunk);
                });
}

}  // namespace xomni::parallel
