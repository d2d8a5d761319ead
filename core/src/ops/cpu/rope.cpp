// CPU rotary position embedding, rotate-half layout, on one tensor or on q and k together. Angles
// are computed in double from the global position of every token.
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {

// Rotates x [B, T, H, D] by +angle (inverse = false) or -angle (inverse = true).
Tensor rope(const Tensor& x, const Tensor& pos, double theta, bool inverse) {
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

// q and k share one set of angles per token. Forward reads [B, T, H, D] rows and writes them
// rotated into [B, H, T, D]; inverse reads [B, H, T, D] gradients and writes [B, T, H, D].
std::vector<Tensor> rope_qk(const Tensor& q, const Tensor& k, const Tensor& pos, double theta,
                            bool inverse) {
  const int64_t B = q.shape()[0], T = q.shape()[inverse ? 2 : 1], D = q.shape()[3], half = D / 2;
  const int64_t Hq = q.shape()[inverse ? 1 : 2], Hk = k.shape()[inverse ? 1 : 2];
  const auto out_shape = [&](int64_t H) { return inverse ? Shape{B, T, H, D} : Shape{B, H, T, D}; };
  Tensor qo = Tensor::empty(out_shape(Hq), q.dtype()), ko = Tensor::empty(out_shape(Hk), k.dtype());
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = std::pow(theta, -2.0 * double(i) / double(D));
  const bool per_batch = pos.dim() == 2;
  dispatch_float("rope_qk", q.dtype(), [&]<typename S>() {
    dispatch_index("rope_qk", pos.dtype(), [&]<typename I>() {
      const I* pp = pos.data<I>();
      parallel_for(B * T, 8, [&](int64_t lo, int64_t hi) {
        std::vector<S> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
        // Row (b, t, h) of a [B, T, H, D] tensor and of a [B, H, T, D] one.
        const auto bthd = [&](int64_t bt, int64_t h, int64_t H) { return (bt * H + h) * D; };
        const auto bhtd = [&](int64_t bt, int64_t h, int64_t H) {
          return ((bt / T * H + h) * T + bt % T) * D;
        };
        const auto rotate = [&](const S* xp, S* yp, int64_t H, int64_t bt) {
          for (int64_t h = 0; h < H; ++h) {
            const S* xr = xp + (inverse ? bhtd(bt, h, H) : bthd(bt, h, H));
            S* yr = yp + (inverse ? bthd(bt, h, H) : bhtd(bt, h, H));
#pragma omp simd
            for (int64_t i = 0; i < half; ++i) {
              const S x1 = xr[i], x2 = xr[i + half];
              yr[i] = x1 * c[size_t(i)] - x2 * s[size_t(i)];
              yr[i + half] = x2 * c[size_t(i)] + x1 * s[size_t(i)];
            }
          }
        };
        for (int64_t bt = lo; bt < hi; ++bt) {
          const double p = double(pp[per_batch ? bt : bt % T]);
          for (int64_t i = 0; i < half; ++i) {
            const double a = p * inv_freq[size_t(i)];
            c[size_t(i)] = S(std::cos(a));
            s[size_t(i)] = S(inverse ? -std::sin(a) : std::sin(a));
          }
          rotate(q.data<S>(), qo.data<S>(), Hq, bt);
          rotate(k.data<S>(), ko.data<S>(), Hk, bt);
        }
      });
    });
  });
  return {qo, ko};
}

}  // namespace xomni::cpu
