// layer_norm and rms_norm over the last dimension, with fused forward and backward kernels.
// Statistics are accumulated in double for f32 inputs (rows are short; the cost is small).
#include <cmath>

#include "parallel.h"
#include "xomni/core/autograd.h"
#include "xomni/core/ops.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

// Per-thread partial sums of dW/dB over rows, combined in thread order (deterministic at a
// fixed thread count).
template <typename T>
struct ParamGradPartials {
  explicit ParamGradPartials(int64_t size)
      : n(size), parts(size_t(omp_get_max_threads()) * size_t(size) * 2, 0.0) {}
  double* w(int slot) { return parts.data() + size_t(slot) * size_t(n) * 2; }
  double* b(int slot) { return w(slot) + n; }
  void reduce(T* dw, T* db) {
    const int slots = int(parts.size() / size_t(2 * n));
    for (int64_t i = 0; i < n; ++i) {
      double sw = 0, sb = 0;
      for (int s = 0; s < slots; ++s) sw += w(s)[i], sb += b(s)[i];
      if (dw) dw[i] = T(sw);
      if (db) db[i] = T(sb);
    }
  }
  int64_t n;
  std::vector<double> parts;
};

void check_norm_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  check_dtype(op, x, {DType::f32, DType::f64});
  XOMNI_CHECK(x.dim() >= 1, op, ": input must have at least one dimension");
  const int64_t n = x.shape().back();
  for (const Tensor* p : {&w, &b}) {
    if (!p->defined()) continue;
    check_same_dtype(op, x, *p);
    XOMNI_CHECK(p->dim() == 1 && p->shape()[0] == n, op, ": parameter of shape ",
                shape_str(p->shape()), " does not match the normalised size of input ",
                shape_str(x.shape()));
  }
}
}  // namespace

Tensor layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps) {
  check_norm_args("layer_norm", x_in, weight, bias);
  const Tensor x = x_in.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor mean_t = Tensor::empty({rows}, DType::f64), rstd_t = Tensor::empty({rows}, DType::f64);
  dispatch_float("layer_norm", x.dtype(), [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* wp = w.defined() ? w.data<T>() : nullptr;
    const T* bp = b.defined() ? b.data<T>() : nullptr;
    T* y = out.data<T>();
    double* mp = mean_t.data<double>();
    double* rp = rstd_t.data<double>();
    parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * n;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += double(xr[i]);
        const double mu = s / double(n);
        double v = 0;
        for (int64_t i = 0; i < n; ++i) v += (double(xr[i]) - mu) * (double(xr[i]) - mu);
        const double rstd = 1.0 / std::sqrt(v / double(n) + eps);
        mp[r] = mu;
        rp[r] = rstd;
        const T tm = T(mu), tr = T(rstd);
        T* yr = y + r * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const T xh = (xr[i] - tm) * tr;
          yr[i] = (wp ? xh * wp[i] : xh) + (bp ? bp[i] : T(0));
        }
      }
    });
  });
  std::vector<Tensor> inputs{x_in, weight, bias};
  return record(out, "layer_norm", inputs,
                [x, w, mean_t, rstd_t, n, rows](const Tensor& g_in, const std::vector<bool>& need) {
                  const Tensor g = g_in.contiguous();
                  Grads grads(3);
                  Tensor gx = Tensor::empty(x.shape(), x.dtype());
                  Tensor gw = w.defined() ? Tensor::empty({n}, x.dtype()) : Tensor();
                  Tensor gb = need[2] ? Tensor::empty({n}, x.dtype()) : Tensor();
                  dispatch_float("layer_norm_backward", x.dtype(), [&]<typename T>() {
                    const T* xp = x.data<T>();
                    const T* gp = g.data<T>();
                    const T* wp = w.defined() ? w.data<T>() : nullptr;
                    const double* mp = mean_t.data<double>();
                    const double* rp = rstd_t.data<double>();
                    T* gxp = gx.data<T>();
                    ParamGradPartials<T> partials(n);
                    parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
                      const int slot = omp_get_thread_num();
                      double* pw = partials.w(slot);
                      double* pb = partials.b(slot);
                      for (int64_t r = lo; r < hi; ++r) {
                        const T* xr = xp + r * n;
                        const T* gr = gp + r * n;
                        const double mu = mp[r], rstd = rp[r];
                        // gx = rstd * (gxh - mean(gxh) - xh * mean(gxh * xh)), gxh = g * w
                        double s1 = 0, s2 = 0;
                        for (int64_t i = 0; i < n; ++i) {
                          const double xh = (double(xr[i]) - mu) * rstd;
                          const double gxh = double(gr[i]) * (wp ? double(wp[i]) : 1.0);
                          s1 += gxh;
                          s2 += gxh * xh;
                          pw[i] += double(gr[i]) * xh;
                          pb[i] += double(gr[i]);
                        }
                        const double m1 = s1 / double(n), m2 = s2 / double(n);
                        T* gxr = gxp + r * n;
                        for (int64_t i = 0; i < n; ++i) {
                          const double xh = (double(xr[i]) - mu) * rstd;
                          const double gxh = double(gr[i]) * (wp ? double(wp[i]) : 1.0);
                          gxr[i] = T(rstd * (gxh - m1 - xh * m2));
                        }
                      }
                    });
                    partials.reduce(gw.defined() ? gw.data<T>() : nullptr,
                                    gb.defined() ? gb.data<T>() : nullptr);
                  });
                  grads[0] = gx;
                  if (need[1]) grads[1] = gw;
                  if (need[2]) grads[2] = gb;
                  return grads;
                });
}

Tensor rms_norm(const Tensor& x_in, const Tensor& weight, double eps) {
  check_norm_args("rms_norm", x_in, weight, Tensor());
  const Tensor x = x_in.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor rstd_t = Tensor::empty({rows}, DType::f64);
  dispatch_float("rms_norm", x.dtype(), [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* wp = w.defined() ? w.data<T>() : nullptr;
    T* y = out.data<T>();
    double* rp = rstd_t.data<double>();
    parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
        const double rstd = 1.0 / std::sqrt(ss / double(n) + eps);
        rp[r] = rstd;
        const T tr = T(rstd);
        T* yr = y + r * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) yr[i] = wp ? xr[i] * tr * wp[i] : xr[i] * tr;
      }
    });
  });
  return record(out, "rms_norm", {x_in, weight},
                [x, w, rstd_t, n, rows](const Tensor& g_in, const std::vector<bool>& need) {
                  const Tensor g = g_in.contiguous();
                  Tensor gx = Tensor::empty(x.shape(), x.dtype());
                  Tensor gw = need[1] ? Tensor::empty({n}, x.dtype()) : Tensor();
                  dispatch_float("rms_norm_backward", x.dtype(), [&]<typename T>() {
                    const T* xp = x.data<T>();
                    const T* gp = g.data<T>();
                    const T* wp = w.defined() ? w.data<T>() : nullptr;
                    const double* rp = rstd_t.data<double>();
                    T* gxp = gx.data<T>();
                    ParamGradPartials<T> partials(n);
                    parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
                      double* pw = partials.w(omp_get_thread_num());
                      for (int64_t r = lo; r < hi; ++r) {
                        const T* xr = xp + r * n;
                        const T* gr = gp + r * n;
                        const double rstd = rp[r];
                        // gx = rstd * (gxh - xh * mean(gxh * xh)), xh = x * rstd, gxh = g * w
                        double s = 0;
                        for (int64_t i = 0; i < n; ++i) {
                          const double xh = double(xr[i]) * rstd;
                          s += double(gr[i]) * (wp ? double(wp[i]) : 1.0) * xh;
                          pw[i] += double(gr[i]) * xh;
                        }
                        const double m = s / double(n);
                        T* gxr = gxp + r * n;
                        for (int64_t i = 0; i < n; ++i) {
                          const double xh = double(xr[i]) * rstd;
                          gxr[i] = T(rstd * (double(gr[i]) * (wp ? double(wp[i]) : 1.0) - xh * m));
                        }
                      }
                    });
                    partials.reduce(gw.defined() ? gw.data<T>() : nullptr, nullptr);
                  });
                  return Grads{gx, gw};
                });
}

}  // namespace xomni
