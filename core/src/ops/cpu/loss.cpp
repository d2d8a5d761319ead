// CPU cross-entropy over class logits with an ignore index. The forward keeps only the per-row
// log-sum-exp; the backward recomputes softmax from the logits (no [N, C] probability buffer).
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/vec_math.h"
#include "tensor/threading.h"

namespace xomni::cpu {

CrossEntropyForward cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                                  Reduction reduction) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  const int64_t* tp = targets.data<int64_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (tp[i] == ignore_index) continue;
    XOMNI_CHECK(tp[i] >= 0 && tp[i] < C, "cross_entropy: target ", tp[i], " at row ", i,
                " is outside [0, ", C, ") and is not the ignore index ", ignore_index);
    ++counted;
  }
  Tensor lse = Tensor::empty({N}, logits.dtype());
  Tensor per_row = Tensor::empty({N}, logits.dtype());
  dispatch_float("cross_entropy", logits.dtype(), [&]<typename T>() {
    const T* x = logits.data<T>();
    T* lp = lse.data<T>();
    T* loss = per_row.data<T>();
    parallel_for(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t r = lo; r < hi; ++r) {
                     const T* xr = x + r * C;
                     T m = -INFINITY;
                     for (int64_t c = 0; c < C; ++c) m = xr[c] > m ? xr[c] : m;
                     T s = 0;
#pragma omp simd reduction(+ : s)
                     for (int64_t c = 0; c < C; ++c) s += fast_exp(xr[c] - m);
                     lp[r] = m + std::log(s);
                     loss[r] = tp[r] == ignore_index ? T(0) : lp[r] - xr[tp[r]];
                   }
                 });
  });

  Tensor out;
  if (reduction == Reduction::none) {
    out = per_row;
  } else {
    // Rows are summed in order so the loss is bitwise repeatable at any thread count.
    out = Tensor::empty({}, logits.dtype());
    dispatch_float("cross_entropy", logits.dtype(), [&]<typename T>() {
      const T* loss = per_row.data<T>();
      double s = 0;
      for (int64_t i = 0; i < N; ++i) s += double(loss[i]);
      // With every target ignored the mean is defined as 0 (PyTorch gives NaN), so a
      // micro-batch of pure padding does not poison a training step.
      if (reduction == Reduction::mean) s = counted ? s / double(counted) : 0.0;
      out.data<T>()[0] = T(s);
    });
  }
  return {out, lse, counted};
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                              const Tensor& g, int64_t ignore_index, Reduction reduction,
                              int64_t counted) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  Tensor gx = Tensor::empty({N, C}, logits.dtype());
  dispatch_float("cross_entropy_backward", logits.dtype(), [&]<typename T>() {
    const T* x = logits.data<T>();
    const int64_t* t = targets.data<int64_t>();
    const T* lp = lse.data<T>();
    const T* gp = g.data<T>();
    T* out_g = gx.data<T>();
    const T scale = reduction == Reduction::mean ? (counted ? T(1) / T(counted) : T(0)) : T(1);
    parallel_for(N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t r = lo; r < hi; ++r) {
                     T* gr = out_g + r * C;
                     if (t[r] == ignore_index) {
                       std::fill(gr, gr + C, T(0));
                       continue;
                     }
                     const T gs = (reduction == Reduction::none ? gp[r] : gp[0]) * scale;
                     const T* xr = x + r * C;
                     const T l = lp[r];
#pragma omp simd
                     for (int64_t c = 0; c < C; ++c) gr[c] = gs * fast_exp(xr[c] - l);
                     gr[t[r]] -= gs;
                   }
                 });
  });
  return gx;
}

}  // namespace xomni::cpu
