// CPU integer-factor resampling of NCHW images, written as gathers so every element is computed
// by one thread in a fixed order.
#include <algorithm>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

// Elements below which a parallel region costs more than it saves. Work is split over rows of
// the small image; each row touches w * f * f elements of the big one.
constexpr int64_t kMinParallelElems = 1 << 15;
int64_t row_grain(int64_t w, int64_t f) {
  return std::max<int64_t>(1, kMinParallelElems / std::max<int64_t>(w * f * f, 1));
}

// big[P, h*f + a, w*f + b] = scale * small[P, h, w] for a, b < f (P = N*C planes of h x w).
template <typename T>
void repeat_rows(const T* small, int64_t planes, int64_t h, int64_t w, int64_t f, double scale,
                 T* big) {
  const int64_t W = w * f;
  parallel_for(planes * h, row_grain(w, f), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* src = small + r * w;
      T* dst = big + r * f * W;
      for (int64_t x = 0; x < w; ++x) {
        const T v = T(double(src[x]) * scale);  // exact when scale is 1
        for (int64_t b = 0; b < f; ++b) dst[x * f + b] = v;
      }
      for (int64_t a = 1; a < f; ++a)
        for (int64_t x = 0; x < W; ++x) dst[a * W + x] = dst[x];
    }
  });
}

// small[P, h, w] = scale * sum over the f x f block of big (rows a, then columns b).
template <typename T>
void sum_rows(const T* big, int64_t planes, int64_t h, int64_t w, int64_t f, double scale,
              T* small) {
  const int64_t W = w * f;
  parallel_for(planes * h, row_grain(w, f), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* src = big + r * f * W;
      T* dst = small + r * w;
      for (int64_t x = 0; x < w; ++x) {
        double acc = 0;
        for (int64_t a = 0; a < f; ++a)
          for (int64_t b = 0; b < f; ++b) acc += double(src[a * W + x * f + b]);
        dst[x] = T(acc * scale);
      }
    }
  });
}

}  // namespace

Tensor repeat_blocks(const Tensor& x, int64_t f, double scale) {
  const Shape& s = x.shape();
  Tensor out = Tensor::empty({s[0], s[1], s[2] * f, s[3] * f}, x.dtype());
  dispatch_float("upsample_nearest2d", x.dtype(), [&]<typename T>() {
    repeat_rows<T>(x.data<T>(), s[0] * s[1], s[2], s[3], f, scale, out.data<T>());
  });
  return out;
}

// Block sums of x scaled by `scale`; x's H and W are multiples of f.
Tensor block_sum(const Tensor& x, int64_t f, double scale) {
  const Shape& s = x.shape();
  Tensor out = Tensor::empty({s[0], s[1], s[2] / f, s[3] / f}, x.dtype());
  dispatch_float("avg_pool2d", x.dtype(), [&]<typename T>() {
    sum_rows<T>(x.data<T>(), s[0] * s[1], s[2] / f, s[3] / f, f, scale, out.data<T>());
  });
  return out;
}

}  // namespace xomni::cpu
