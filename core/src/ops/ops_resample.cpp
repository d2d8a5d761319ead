// Integer-factor resampling of NCHW images: nearest-neighbour upsampling and average pooling
// (kernel = stride = factor). Each op's backward is the other's forward up to a constant, and
// both are written as gathers so every element is computed by one thread in a fixed order.
#include <algorithm>

#include "tensor/threading.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

// Elements below which a parallel region costs more than it saves. Work is split over rows of
// the small image; each row touches w * f * f elements of the big one.
constexpr int64_t kMinParallelElems = 1 << 15;
int64_t row_grain(int64_t w, int64_t f) {
  return std::max<int64_t>(1, kMinParallelElems / std::max<int64_t>(w * f * f, 1));
}

void check_image(const char* op, const Tensor& x, int64_t factor) {
  check_dtype(op, x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() == 4, op, ": input must be [N, C, H, W], got shape ", shape_str(x.shape()));
  XOMNI_CHECK(factor >= 1, op, ": factor must be >= 1, got ", factor, " for input ",
              shape_str(x.shape()));
}

// big[P, h*f + a, w*f + b] = scale * small[P, h, w] for a, b < f (P = N*C planes of h x w).
template <typename T>
void repeat_blocks(const T* small, int64_t planes, int64_t h, int64_t w, int64_t f, double scale,
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
void sum_blocks(const T* big, int64_t planes, int64_t h, int64_t w, int64_t f, double scale,
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

Tensor repeat_impl(const Tensor& x, int64_t f, double scale) {
  const Shape& s = x.shape();
  Tensor out = Tensor::empty({s[0], s[1], s[2] * f, s[3] * f}, x.dtype());
  dispatch_float("upsample_nearest2d", x.dtype(), [&]<typename T>() {
    repeat_blocks<T>(x.data<T>(), s[0] * s[1], s[2], s[3], f, scale, out.data<T>());
  });
  return out;
}

// Block sums of x scaled by `scale`; x's H and W are multiples of f.
Tensor block_sum_impl(const Tensor& x, int64_t f, double scale) {
  const Shape& s = x.shape();
  Tensor out = Tensor::empty({s[0], s[1], s[2] / f, s[3] / f}, x.dtype());
  dispatch_float("avg_pool2d", x.dtype(), [&]<typename T>() {
    sum_blocks<T>(x.data<T>(), s[0] * s[1], s[2] / f, s[3] / f, f, scale, out.data<T>());
  });
  return out;
}
}  // namespace

Tensor upsample_nearest2d(const Tensor& x_in, int64_t factor) {
  check_image("upsample_nearest2d", x_in, factor);
  Tensor out = repeat_impl(x_in.contiguous(), factor, 1.0);
  return record(out, "upsample_nearest2d", {x_in},
                [factor](const Tensor& g, const std::vector<bool>&) {
                  return Grads{block_sum_impl(g.contiguous(), factor, 1.0)};
                });
}

Tensor avg_pool2d(const Tensor& x_in, int64_t factor) {
  check_image("avg_pool2d", x_in, factor);
  XOMNI_CHECK(x_in.shape()[2] % factor == 0 && x_in.shape()[3] % factor == 0,
              "avg_pool2d: height and width of input ", shape_str(x_in.shape()),
              " must be divisible by the factor ", factor);
  const double inv = 1.0 / double(factor * factor);
  Tensor out = block_sum_impl(x_in.contiguous(), factor, inv);
  return record(out, "avg_pool2d", {x_in},
                [factor, inv](const Tensor& g, const std::vector<bool>&) {
                  return Grads{repeat_impl(g.contiguous(), factor, inv)};
                });
}

}  // namespace xomni
