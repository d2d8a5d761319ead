// The fused LM head and cross-entropy: argument checks, the chunk size and autograd around the
// device's kernels (the CPU's in cpu/linear_cross_entropy.cpp).
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {

struct Operands {
  Tensor hidden, weight, targets;  // contiguous; targets i64
};

Operands checked_operands(const char* op, const Tensor& hidden, const Tensor& weight,
                          const Tensor& targets) {
  check_dtype(op, hidden, {DType::f32, DType::f64});
  check_same_dtype(op, hidden, weight);
  check_dtype(op, targets, {DType::i32, DType::i64});
  XOMNI_CHECK(hidden.dim() == 2 && weight.dim() == 2 && targets.dim() == 1 &&
                  hidden.size(1) == weight.size(1) && targets.size(0) == hidden.size(0),
              op, ": hidden ", shape_str(hidden.shape()), ", weight ", shape_str(weight.shape()),
              " and targets ", shape_str(targets.shape()), " must be [N, H], [V, H] and [N]");
  check_same_device(op, hidden, weight);
  return {hidden.contiguous(), weight.contiguous(), targets.to(DType::i64).contiguous()};
}

}  // namespace

int64_t linear_cross_entropy_chunk(int64_t rows, int64_t vocab, DType dtype, int64_t chunk) {
  XOMNI_CHECK(chunk >= 0, "linear_cross_entropy: chunk must be >= 0 (0 picks one), got ", chunk);
  if (chunk == 0) {
    // About 2 MB of logits per chunk (the buffer is written by GEMM and read once per pass while
    // it is still in cache), in multiples of 64 columns, at least 256.
    const int64_t target = (int64_t(2) << 20) / int64_t(dtype_size(dtype));
    chunk = std::max<int64_t>(256, target / std::max<int64_t>(rows, 1) / 64 * 64);
  }
  return std::max<int64_t>(1, std::min(chunk, vocab));
}

LinearCrossEntropyStats linear_cross_entropy_stats(const Tensor& hidden, const Tensor& weight,
                                                   const Tensor& targets, int64_t vocab_start,
                                                   int64_t ignore_index, int64_t chunk) {
  const Operands o = checked_operands("linear_cross_entropy_stats", hidden, weight, targets);
  return kernels_for(o.hidden.device())
      .linear_cross_entropy_stats(
          o.hidden, o.weight, o.targets, vocab_start, ignore_index,
          linear_cross_entropy_chunk(o.hidden.size(0), o.weight.size(0), o.hidden.dtype(), chunk));
}

std::vector<Tensor> linear_cross_entropy_backward(const Tensor& hidden, const Tensor& weight,
                                                  const Tensor& targets, const Tensor& lse,
                                                  const Tensor& g, int64_t vocab_start,
                                                  int64_t ignore_index,
                                                  const std::vector<bool>& needs, int64_t chunk) {
  const Operands o = checked_operands("linear_cross_entropy_backward", hidden, weight, targets);
  const int64_t N = o.hidden.size(0);
  XOMNI_CHECK(lse.dtype() == DType::f64 && lse.dim() == 1 && lse.size(0) == N && g.dim() == 1 &&
                  g.size(0) == N && needs.size() == 2,
              "linear_cross_entropy_backward: lse ", shape_str(lse.shape()), " (f64) and g ",
              shape_str(g.shape()), " must be [N] = [", N, "], needs {hidden, weight}");
  return kernels_for(o.hidden.device())
      .linear_cross_entropy_backward(
          o.hidden, o.weight, o.targets, lse.contiguous(), g.to(o.hidden.dtype()).contiguous(),
          vocab_start, ignore_index, needs,
          linear_cross_entropy_chunk(N, o.weight.size(0), o.hidden.dtype(), chunk));
}

Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                            int64_t ignore_index, int64_t chunk) {
  const Operands o = checked_operands("linear_cross_entropy", hidden, weight, targets);
  const int64_t N = o.hidden.size(0), V = o.weight.size(0);
  const int64_t* t = o.targets.data<int64_t>();
  for (int64_t r = 0; r < N; ++r)
    XOMNI_CHECK(t[r] == ignore_index || (t[r] >= 0 && t[r] < V), "linear_cross_entropy: target ",
                t[r], " at row ", r, " is outside [0, ", V, ") and is not the ignore index ",
                ignore_index);
  const int64_t c = linear_cross_entropy_chunk(N, V, o.hidden.dtype(), chunk);
  const LinearCrossEntropyStats s =
      kernels_for(o.hidden.device())
          .linear_cross_entropy_stats(o.hidden, o.weight, o.targets, 0, ignore_index, c);
  Tensor lse = Tensor::empty({N}, DType::f64);
  Tensor nll = Tensor::empty({N}, DType::f64);
  const double *m = s.row_max.data<double>(), *e = s.sum_exp.data<double>(),
               *tl = s.target_logit.data<double>();
  double *lp = lse.data<double>(), *np = nll.data<double>();
  for (int64_t r = 0; r < N; ++r) {
    lp[r] = m[r] + std::log(e[r]);
    np[r] = t[r] == ignore_index ? 0.0 : lp[r] - tl[r];
  }
  return record(nll.to(o.hidden.dtype()), "linear_cross_entropy", {hidden, weight},
                [o, lse, ignore_index, c](const Tensor& g, const std::vector<bool>& needs) {
                  return kernels_for(o.hidden.device())
                      .linear_cross_entropy_backward(o.hidden, o.weight, o.targets, lse,
                                                     g.to(o.hidden.dtype()).contiguous(), 0,
                                                     ignore_index, needs, c);
                });
}

}  // namespace xomni
