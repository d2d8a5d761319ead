// CPU group_norm: a fused forward (saving mean and rstd per (sample, group)) and a fused
// backward. Statistics and reductions are accumulated in double in a fixed order.
#include <algorithm>
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

// Elements below which a parallel region costs more than it saves.
constexpr int64_t kMinParallelElems = 1 << 15;
int64_t grain_for(int64_t elems_per_item) {
  return std::max<int64_t>(1, kMinParallelElems / std::max<int64_t>(elems_per_item, 1));
}

struct GnGeom {
  int64_t N, C, G, S;  // S: spatial size (product of dims after C)
  int64_t Cg() const { return C / G; }
};

// Sum of f(e) for e < n in eight double partials (so the loop vectorises), combined in a fixed
// order.
template <typename F>
double lane_sum(int64_t n, F f) {
  constexpr int64_t kLanes = 8;
  double acc[kLanes] = {};
  int64_t e = 0;
  for (; e + kLanes <= n; e += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) acc[k] += f(e + k);
  for (int64_t k = 0; e < n; ++e, ++k) acc[k] += f(e);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <typename T>
void gn_forward(const GnGeom& d, const T* x, const T* w, const T* b, double eps, T* y,
                double* mean_out, double* rstd_out) {
  const int64_t Cg = d.Cg(), M = Cg * d.S;
  parallel_for(d.N * d.G, grain_for(M), [&](int64_t lo, int64_t hi) {
    for (int64_t ng = lo; ng < hi; ++ng) {
      const T* xg = x + ng * M;
      const double mean = lane_sum(M, [&](int64_t e) { return double(xg[e]); }) / double(M);
      // Two passes: no cancellation when |mean| >> std.
      const double ss = lane_sum(M, [&](int64_t e) {
        const double dv = double(xg[e]) - mean;
        return dv * dv;
      });
      const double rstd = 1.0 / std::sqrt(ss / double(M) + eps);
      mean_out[ng] = mean;
      rstd_out[ng] = rstd;
      const int64_t c0 = (ng % d.G) * Cg;
      for (int64_t cc = 0; cc < Cg; ++cc) {
        // In double: folding the mean into a per-channel shift would cancel badly in f32
        // when |mean| is large against the spread.
        const double scale = rstd * (w ? double(w[c0 + cc]) : 1.0);
        const double shift = b ? double(b[c0 + cc]) : 0.0;
        const T* xc = xg + cc * d.S;
        T* yc = y + ng * M + cc * d.S;
#pragma omp simd
        for (int64_t e = 0; e < d.S; ++e) yc[e] = T((double(xc[e]) - mean) * scale + shift);
      }
    }
  });
}

// With xhat = (x - mean) rstd and dxhat = g w:
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dw = sum g xhat,  db = sum g.
// Per (n, c) sums of g and g x give all three without another pass over the data.
template <typename T>
void gn_backward(const GnGeom& d, const T* x, const T* w, const T* gy, const double* st_mean,
                 const double* st_rstd, T* dx, T* dw, T* db) {
  const int64_t Cg = d.Cg(), M = Cg * d.S;
  std::vector<double> sg(size_t(d.N * d.C)), sgx(size_t(d.N * d.C));
  parallel_for(d.N * d.C, grain_for(d.S), [&](int64_t lo, int64_t hi) {
    for (int64_t nc = lo; nc < hi; ++nc) {
      const T* gp = gy + nc * d.S;
      const T* xp = x + nc * d.S;
      sg[size_t(nc)] = lane_sum(d.S, [&](int64_t e) { return double(gp[e]); });
      sgx[size_t(nc)] = lane_sum(d.S, [&](int64_t e) { return double(gp[e]) * double(xp[e]); });
    }
  });
  if (dx) {
    parallel_for(d.N * d.G, grain_for(M), [&](int64_t lo, int64_t hi) {
      for (int64_t ng = lo; ng < hi; ++ng) {
        const double mean = st_mean[ng], rstd = st_rstd[ng];
        const int64_t n = ng / d.G, c0 = (ng % d.G) * Cg;
        double A = 0, B = 0;  // sum dxhat, sum dxhat * xhat over the group
        for (int64_t cc = 0; cc < Cg; ++cc) {
          const int64_t c = c0 + cc, nc = n * d.C + c;
          const double wc = w ? double(w[c]) : 1.0;
          A += wc * sg[size_t(nc)];
          B += wc * rstd * (sgx[size_t(nc)] - mean * sg[size_t(nc)]);
        }
        // dx = c1 g + c2 (x - mean) + c3
        const double c2 = -rstd * rstd * B / double(M);
        const double c3 = -rstd * A / double(M);
        for (int64_t cc = 0; cc < Cg; ++cc) {
          const int64_t c = c0 + cc, nc = n * d.C + c;
          const double c1 = rstd * (w ? double(w[c]) : 1.0);
          const T* gp = gy + nc * d.S;
          const T* xp = x + nc * d.S;
          T* out = dx + nc * d.S;
#pragma omp simd
          for (int64_t e = 0; e < d.S; ++e)
            out[e] = T(c1 * double(gp[e]) + c2 * (double(xp[e]) - mean) + c3);
        }
      }
    });
  }
  if (dw || db) {
    for (int64_t c = 0; c < d.C; ++c) {
      double aw = 0, ab = 0;
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t nc = n * d.C + c, ng = n * d.G + c / Cg;
        aw += st_rstd[ng] * (sgx[size_t(nc)] - st_mean[ng] * sg[size_t(nc)]);
        ab += sg[size_t(nc)];
      }
      if (dw) dw[c] = T(aw);
      if (db) db[c] = T(ab);
    }
  }
}

GnGeom geom_of(const Tensor& x, int64_t groups) {
  GnGeom d{x.shape()[0], x.shape()[1], groups, 1};
  for (int64_t i = 2; i < x.dim(); ++i) d.S *= x.shape()[i];
  return d;
}
}  // namespace

NormForward group_norm(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                       double eps) {
  const GnGeom d = geom_of(x, groups);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({d.N * d.G}, DType::f64),
         rstd = Tensor::empty({d.N * d.G}, DType::f64);
  dispatch_float("group_norm", x.dtype(), [&]<typename T>() {
    gn_forward<T>(d, x.data<T>(), w.defined() ? w.data<T>() : nullptr,
                  b.defined() ? b.data<T>() : nullptr, eps, out.data<T>(), mean.data<double>(),
                  rstd.data<double>());
  });
  return {out, mean, rstd};
}

std::vector<Tensor> group_norm_backward(const Tensor& x, int64_t groups, const Tensor& w,
                                        const Tensor& gy, const Tensor& mean, const Tensor& rstd,
                                        const std::vector<bool>& needs) {
  const GnGeom d = geom_of(x, groups);
  Tensor dx, dw, db;
  if (needs[0]) dx = Tensor::empty(x.shape(), x.dtype());
  if (needs[1]) dw = Tensor::empty({d.C}, x.dtype());
  if (needs[2]) db = Tensor::empty({d.C}, x.dtype());
  dispatch_float("group_norm_backward", x.dtype(), [&]<typename T>() {
    gn_backward<T>(d, x.data<T>(), w.defined() ? w.data<T>() : nullptr, gy.data<T>(),
                   mean.data<double>(), rstd.data<double>(), dx.defined() ? dx.data<T>() : nullptr,
                   dw.defined() ? dw.data<T>() : nullptr, db.defined() ? db.data<T>() : nullptr);
  });
  return {dx, dw, db};
}

}  // namespace xomni::cpu
