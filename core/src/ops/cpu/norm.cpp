// CPU layer_norm, rms_norm and residual add + rms_norm over the last dimension, fused forward and
// backward. Row statistics are accumulated in double (also for f32 inputs) with vectorised
// reductions, whose lane order is fixed at compile time, so results stay deterministic.
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

// Per-thread partial sums of dW/dB over rows, combined in thread order (deterministic at a
// fixed thread count).
class ParamGradPartials {
 public:
  explicit ParamGradPartials(int64_t size)
      : n_(size), parts_(size_t(omp_get_max_threads()) * size_t(size) * 2, 0.0) {}
  double* w(int slot) { return parts_.data() + size_t(slot) * size_t(n_) * 2; }
  double* b(int slot) { return w(slot) + n_; }
  template <typename T>
  void reduce(T* dw, T* db) {
    const int slots = int(parts_.size() / size_t(2 * n_));
    for (int64_t i = 0; i < n_; ++i) {
      double sw = 0, sb = 0;
      for (int s = 0; s < slots; ++s) sw += w(s)[i], sb += b(s)[i];
      if (dw) dw[i] = T(sw);
      if (db) db[i] = T(sb);
    }
  }

 private:
  int64_t n_;
  std::vector<double> parts_;
};

// ---- layer norm ----

template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, double* mean, double* rstd,
                        int64_t rows, int64_t n, double eps) {
  parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < n; ++i) s += double(xr[i]);
      const double mu = s / double(n);
      double v = 0;  // second pass: no cancellation for rows with a large mean
#pragma omp simd reduction(+ : v)
      for (int64_t i = 0; i < n; ++i) v += (double(xr[i]) - mu) * (double(xr[i]) - mu);
      const double rs = 1.0 / std::sqrt(v / double(n) + eps);
      mean[r] = mu;
      rstd[r] = rs;
      const T tm = T(mu), tr = T(rs);
      T* yr = y + r * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const T xh = (xr[i] - tm) * tr;
        yr[i] = xh * w[i] + b[i];
      }
    }
  });
}

// Rows summed in T before a partial is flushed into the double per-thread sums: short float
// sums stay accurate (32 terms) and the hot loop keeps f32's full vector width.
constexpr int kRowsPerFlush = 32;

// gx = rstd * (gxh - mean(gxh) - xh * mean(gxh * xh)) with xh normalised x and gxh = g * w.
template <typename T>
void layer_norm_backward(const T* x, const T* w, const T* g, const double* mean, const double* rstd,
                         T* gx, T* gw, T* gb, int64_t rows, int64_t n) {
  ParamGradPartials partials(n);
  parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
    double* pw = partials.w(omp_get_thread_num());
    double* pb = partials.b(omp_get_thread_num());
    std::vector<T> bw(static_cast<size_t>(n), T(0)), bb(static_cast<size_t>(n), T(0));
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      const T mu = T(mean[r]), rs = T(rstd[r]);
      T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t i = 0; i < n; ++i) {
        const T gxh = gr[i] * w[i];
        s1 += gxh;
        s2 += gxh * ((xr[i] - mu) * rs);
      }
      const T m1 = s1 / T(n), m2 = s2 / T(n);
      T* gxr = gx + r * n;
      T* bwp = bw.data();
      T* bbp = bb.data();
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const T xh = (xr[i] - mu) * rs;
        gxr[i] = rs * (gr[i] * w[i] - m1 - xh * m2);
        bwp[i] += gr[i] * xh;
        bbp[i] += gr[i];
      }
      if ((r - lo + 1) % kRowsPerFlush == 0 || r + 1 == hi) {
        for (int64_t i = 0; i < n; ++i) {
          pw[i] += double(bwp[i]);
          pb[i] += double(bbp[i]);
          bwp[i] = T(0);
          bbp[i] = T(0);
        }
      }
    }
  });
  partials.reduce(gw, gb);
}

// ---- RMS norm ----

template <typename T>
void rms_norm_forward(const T* x, const T* w, T* y, double* rstd, int64_t rows, int64_t n,
                      double eps) {
  parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      double ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
      const double rs = 1.0 / std::sqrt(ss / double(n) + eps);
      rstd[r] = rs;
      const T tr = T(rs);
      T* yr = y + r * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * tr * w[i];
    }
  });
}

// ---- residual add + RMS norm ----

// The same arithmetic as add followed by rms_norm_forward, in one pass over x and r.
template <typename T>
void add_rms_norm_forward(const T* x, const T* r, const T* w, T* sum, T* y, double* rstd,
                          int64_t rows, int64_t n, double eps) {
  parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const T* xr = x + row * n;
      const T* rr = r + row * n;
      T* sr = sum + row * n;
      double ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < n; ++i) {
        const T v = xr[i] + rr[i];
        sr[i] = v;
        ss += double(v) * double(v);
      }
      const double rs = 1.0 / std::sqrt(ss / double(n) + eps);
      rstd[row] = rs;
      const T tr = T(rs);
      T* yr = y + row * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = sr[i] * tr * w[i];
    }
  });
}

// RMS norm's backward, gx = rstd * (gxh - xh * mean(gxh * xh)) with xh = s * rstd and
// gxh = g * w, plus, when kAddSum, the gradient that reached the sum directly (what the engine
// would otherwise add in a separate pass). Without it, the plain rms_norm's backward.
template <typename T, bool kAddSum>
void add_rms_norm_backward(const T* s, const T* w, const T* g, const T* g_sum, const double* rstd,
                           T* gx, T* gw, int64_t rows, int64_t n) {
  ParamGradPartials partials(n);
  parallel_for(rows, row_grain(n), [&](int64_t lo, int64_t hi) {
    double* pw = partials.w(omp_get_thread_num());
    for (int64_t r = lo; r < hi; ++r) {
      const T* sr = s + r * n;
      const T* gr = g + r * n;
      const double rs = rstd[r];
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; ++i) acc += double(gr[i]) * double(w[i]) * (double(sr[i]) * rs);
      const T trs = T(rs), tm = T(acc / double(n));
      T* gxr = gx + r * n;
      const T* gsr = kAddSum ? g_sum + r * n : nullptr;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const T xh = sr[i] * trs;
        const T v = trs * (gr[i] * w[i] - xh * tm);
        if constexpr (kAddSum)
          gxr[i] = gsr[i] + v;
        else
          gxr[i] = v;
        pw[i] += double(gr[i] * xh);
      }
    }
  });
  partials.reduce<T>(gw, nullptr);
}
}  // namespace

NormForward layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({rows}, DType::f64), rstd = Tensor::empty({rows}, DType::f64);
  dispatch_float("layer_norm", x.dtype(), [&]<typename T>() {
    layer_norm_forward<T>(x.data<T>(), w.data<T>(), b.data<T>(), out.data<T>(), mean.data<double>(),
                          rstd.data<double>(), rows, n, eps);
  });
  return {out, mean, rstd};
}

std::vector<Tensor> layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& g,
                                        const Tensor& mean, const Tensor& rstd) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor gx = Tensor::empty(x.shape(), x.dtype());
  Tensor gw = Tensor::empty({n}, x.dtype()), gb = Tensor::empty({n}, x.dtype());
  dispatch_float("layer_norm_backward", x.dtype(), [&]<typename T>() {
    layer_norm_backward<T>(x.data<T>(), w.data<T>(), g.data<T>(), mean.data<double>(),
                           rstd.data<double>(), gx.data<T>(), gw.data<T>(), gb.data<T>(), rows, n);
  });
  return {gx, gw, gb};
}

NormForward rms_norm(const Tensor& x, const Tensor& w, double eps) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor rstd = Tensor::empty({rows}, DType::f64);
  dispatch_float("rms_norm", x.dtype(), [&]<typename T>() {
    rms_norm_forward<T>(x.data<T>(), w.data<T>(), out.data<T>(), rstd.data<double>(), rows, n, eps);
  });
  return {out, Tensor(), rstd};
}

std::vector<Tensor> rms_norm_backward(const Tensor& x, const Tensor& w, const Tensor& g,
                                      const Tensor& rstd) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor gx = Tensor::empty(x.shape(), x.dtype());
  Tensor gw = Tensor::empty({n}, x.dtype());
  dispatch_float("rms_norm_backward", x.dtype(), [&]<typename T>() {
    add_rms_norm_backward<T, false>(x.data<T>(), w.data<T>(), g.data<T>(), nullptr,
                                    rstd.data<double>(), gx.data<T>(), gw.data<T>(), rows, n);
  });
  return {gx, gw};
}

AddNormForward add_rms_norm(const Tensor& x, const Tensor& r, const Tensor& w, double eps) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  Tensor sum = Tensor::empty(x.shape(), x.dtype()), out = Tensor::empty(x.shape(), x.dtype());
  Tensor rstd = Tensor::empty({rows}, DType::f64);
  dispatch_float("add_rms_norm", x.dtype(), [&]<typename T>() {
    add_rms_norm_forward<T>(x.data<T>(), r.data<T>(), w.data<T>(), sum.data<T>(), out.data<T>(),
                            rstd.data<double>(), rows, n, eps);
  });
  return {sum, out, rstd};
}

std::vector<Tensor> add_rms_norm_backward(const Tensor& sum, const Tensor& w, const Tensor& rstd,
                                          const Tensor& g_sum, const Tensor& g_out) {
  if (!g_out.defined()) return {g_sum, Tensor()};
  const int64_t n = sum.shape().back(), rows = n ? sum.numel() / n : 0;
  Tensor gx = Tensor::empty(sum.shape(), sum.dtype());
  Tensor gw = Tensor::empty({n}, sum.dtype());
  dispatch_float("add_rms_norm_backward", sum.dtype(), [&]<typename T>() {
    if (g_sum.defined())
      add_rms_norm_backward<T, true>(sum.data<T>(), w.data<T>(), g_out.data<T>(), g_sum.data<T>(),
                                     rstd.data<double>(), gx.data<T>(), gw.data<T>(), rows, n);
    else
      add_rms_norm_backward<T, false>(sum.data<T>(), w.data<T>(), g_out.data<T>(), nullptr,
                                      rstd.data<double>(), gx.data<T>(), gw.data<T>(), rows, n);
  });
  return {gx, gw};
}

}  // namespace xomni::cpu
