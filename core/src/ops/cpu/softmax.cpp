// CPU softmax and log_softmax over rows of the last dimension, forward and backward.
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/vec_math.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

template <typename T>
T row_max(const T* x, int64_t n) {
  T m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// y = softmax(x) (log_space=false) or log_softmax(x) over rows of length n.
template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log_space) {
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t r = lo; r < hi; ++r) {
                   const T* xr = x + r * n;
                   T* yr = y + r * n;
                   const T m = row_max(xr, n);
                   if (std::isinf(m) && m < 0) {  // every entry -inf: no mass anywhere
                     for (int64_t i = 0; i < n; ++i) yr[i] = log_space ? T(-INFINITY) : T(NAN);
                     continue;
                   }
                   T s = 0;
#pragma omp simd reduction(+ : s)
                   for (int64_t i = 0; i < n; ++i) {
                     const T e = fast_exp(xr[i] - m);
                     yr[i] = e;
                     s += e;
                   }
                   if (log_space) {
                     const T lse = m + std::log(s);
#pragma omp simd
                     for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - lse;
                   } else {
                     const T inv = T(1) / s;
#pragma omp simd
                     for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
                   }
                 }
               });
}

// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
template <typename T>
void softmax_backward_rows(const T* g, const T* y, T* gx, int64_t rows, int64_t n, bool log_space) {
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t r = lo; r < hi; ++r) {
                   const T* gr = g + r * n;
                   const T* yr = y + r * n;
                   T* out = gx + r * n;
                   T s = 0;
                   if (log_space) {
#pragma omp simd reduction(+ : s)
                     for (int64_t i = 0; i < n; ++i) s += gr[i];
#pragma omp simd
                     for (int64_t i = 0; i < n; ++i) out[i] = gr[i] - fast_exp(yr[i]) * s;
                   } else {
#pragma omp simd reduction(+ : s)
                     for (int64_t i = 0; i < n; ++i) s += gr[i] * yr[i];
#pragma omp simd
                     for (int64_t i = 0; i < n; ++i) out[i] = yr[i] * (gr[i] - s);
                   }
                 }
               });
}

}  // namespace

Tensor softmax(const Tensor& x, bool log_space) {
  const int64_t n = x.dim() ? x.shape().back() : 1;
  const int64_t rows = n ? x.numel() / n : 0;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(log_space ? "log_softmax" : "softmax", x.dtype(), [&]<typename T>() {
    softmax_rows<T>(x.data<T>(), out.data<T>(), rows, n, log_space);
  });
  return out;
}

Tensor softmax_backward(const Tensor& g, const Tensor& y, bool log_space) {
  const int64_t n = y.dim() ? y.shape().back() : 1;
  const int64_t rows = n ? y.numel() / n : 0;
  Tensor gx = Tensor::empty(y.shape(), y.dtype());
  dispatch_float("softmax_backward", y.dtype(), [&]<typename T>() {
    softmax_backward_rows<T>(g.data<T>(), y.data<T>(), gx.data<T>(), rows, n, log_space);
  });
  return gx;
}

}  // namespace xomni::cpu
