// Rotary position embedding, rotate-half layout (dimension i pairs with i + D/2), as in
// Qwen2/Llama. Angles are computed in double from the global position of every token.
#include <cmath>

#include "tensor/threading.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

// Rotates x [B, T, H, D] by +angle (inverse = false) or -angle (inverse = true).
Tensor rotate(const Tensor& x_in, const Tensor& pos, double theta, bool inverse) {
  const Tensor x = x_in.contiguous();
  const int64_t B = x.shape()[0], T = x.shape()[1], H = x.shape()[2], D = x.shape()[3],
                half = D / 2;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = std::pow(theta, -2.0 * double(i) / double(D));
  const bool per_batch = pos.dim() == 2;
  dispatch_float("rope", x.dtype(), [&]<typename S>() {
    dispatch_index("rope", pos.dtype(), [&]<typename I>() {
      const I* pp = pos.data<I>();
      const S* xp = x.data<S>();
      S* yp = out.data<S>();
      parallel_for(B * T, 8, [&](int64_t lo, int64_t hi) {
        std::vector<S> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
        for (int64_t bt = lo; bt < hi; ++bt) {
          const double p = double(pp[per_batch ? bt : bt % T]);
          for (int64_t i = 0; i < half; ++i) {
            const double a = p * inv_freq[size_t(i)];
            c[size_t(i)] = S(std::cos(a));
            s[size_t(i)] = S(inverse ? -std::sin(a) : std::sin(a));
          }
          for (int64_t h = 0; h < H; ++h) {
            const S* xr = xp + (bt * H + h) * D;
            S* yr = yp + (bt * H + h) * D;
#pragma omp simd
            for (int64_t i = 0; i < half; ++i) {
              const S x1 = xr[i], x2 = xr[i + half];
              yr[i] = x1 * c[size_t(i)] - x2 * s[size_t(i)];
              yr[i + half] = x2 * c[size_t(i)] + x1 * s[size_t(i)];
            }
          }
        }
      });
    });
  });
  return out;
}
}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta) {
  check_dtype("rope", x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() == 4 && x.shape()[3] % 2 == 0,
              "rope: input must be [B, T, H, D] with even D, got ", shape_str(x.shape()));
  check_dtype("rope", positions, {DType::i32, DType::i64});
  const Shape bt{x.shape()[0], x.shape()[1]};
  XOMNI_CHECK((positions.dim() == 1 && positions.shape()[0] == bt[1]) ||
                  (positions.dim() == 2 && positions.shape() == bt),
              "rope: positions of shape ", shape_str(positions.shape()), " do not match input ",
              shape_str(x.shape()), " (expected [T] or [B, T])");
  XOMNI_CHECK(theta > 0, "rope: theta must be positive, got ", theta);
  const Tensor pos = positions.contiguous();
  Tensor out = rotate(x, pos, theta, false);
  return record(out, "rope", {x}, [pos, theta](const Tensor& g, const std::vector<bool>&) {
    return Grads{rotate(g, pos, theta, true)};
  });
}

}  // namespace xomni
