// CPU reductions. Every sum runs in a fixed order, so results do not depend on the thread count.
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {
// Sums a contiguous [A, R, B] buffer over R into [A, B].
template <typename T>
void sum_middle(const T* x, T* y, int64_t A, int64_t R, int64_t B) {
  if (B == 1) {
    parallel_for(A, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t a = lo; a < hi; ++a) {
                     const T* row = x + a * R;
                     constexpr int kLanes = 16;
                     T lanes[kLanes] = {};
                     int64_t r = 0;
                     for (; r + kLanes <= R; r += kLanes)
#pragma omp simd
                       for (int l = 0; l < kLanes; ++l) lanes[l] += row[r + l];
                     T acc = 0;
                     for (; r < R; ++r) acc += row[r];
                     for (int l = 0; l < kLanes; ++l) acc += lanes[l];
                     y[a] = acc;
                   }
                 });
    return;
  }
  parallel_for(A * B, 4096, [&](int64_t lo, int64_t hi) {
    // [lo, hi) indexes the flattened [A, B] output; walk it in pieces that stay within one a.
    for (int64_t i = lo; i < hi;) {
      const int64_t a = i / B, b0 = i % B, b1 = std::min(B, b0 + (hi - i));
      T* out = y + a * B;
      for (int64_t b = b0; b < b1; ++b) out[b] = 0;
      for (int64_t r = 0; r < R; ++r) {
        const T* row = x + (a * R + r) * B;
#pragma omp simd
        for (int64_t b = b0; b < b1; ++b) out[b] += row[b];
      }
      i += b1 - b0;
    }
  });
}

// Sum of squares in double over fixed blocks of kBlock elements, blocks added in order: the
// result depends only on the data, not on the thread count. Within a block, kLanes independent
// accumulators (one vector's worth each, added in a fixed order at the end) instead of one
// chain of dependent double adds, which ran at a fifth of memory bandwidth.
constexpr int64_t kBlock = 1 << 15;

template <typename T>
double block_sum_squares(const T* __restrict g, int64_t n) {
  constexpr int kLanes = 16;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) lanes[l] += double(g[i + l]) * double(g[i + l]);
  double s = 0.0;
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  for (; i < n; ++i) s += double(g[i]) * double(g[i]);
  return s;
}

template <typename T>
double sum_squares_of(const T* g, int64_t n) {
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(size_t(nblocks), 0.0);
  parallel_for(nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t begin = b * kBlock, end = std::min(n, begin + kBlock);
      partial[size_t(b)] = block_sum_squares(g + begin, end - begin);
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}
}  // namespace

Tensor sum(const Tensor& x, const Shape& out_shape, int64_t A, int64_t R, int64_t B) {
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch_float("sum", x.dtype(),
                 [&]<typename T>() { sum_middle<T>(x.data<T>(), out.data<T>(), A, R, B); });
  return out;
}

Tensor argmax(const Tensor& a, int64_t d, const Shape& out_shape) {
  int64_t A = 1, R = a.dim() ? a.shape()[d] : 1, B = 1;
  for (int64_t i = 0; i < a.dim(); ++i) {
    if (i < d) A *= a.shape()[i];
    if (i > d) B *= a.shape()[i];
  }
  Tensor out = Tensor::empty(out_shape, DType::i64);
  int64_t* idx = out.data<int64_t>();
  dispatch_float("argmax", a.dtype(), [&]<typename T>() {
    const T* x = a.data<T>();
    parallel_for(A * B, 1024, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t oa = i / B, ob = i % B;
        const T* p = x + oa * R * B + ob;
        int64_t best = 0;
        T bv = p[0];
        for (int64_t r = 1; r < R; ++r) {
          const T v = p[r * B];
          if (std::isnan(bv)) break;  // NaN is the maximum, as in PyTorch
          if (v > bv || std::isnan(v)) bv = v, best = r;
        }
        idx[i] = best;
      }
    });
  });
  return out;
}

double sum_squares(const Tensor& t) {
  return dispatch_float("clip_grad_norm", t.dtype(),
                        [&]<typename T>() { return sum_squares_of<T>(t.data<T>(), t.numel()); });
}

void scale_(const Tensor& t, double factor) {
  dispatch_float("clip_grad_norm", t.dtype(), [&]<typename T>() {
    T* p = t.data<T>();
    const T c = T(factor);
    parallel_for(t.numel(), 1 << 16, [=](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) p[i] *= c;
    });
  });
}

}  // namespace xomni::cpu
