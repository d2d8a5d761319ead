// CPU conv2d (NCHW, groups = 1, dilation = 1) as im2col + GEMM. Work is cut into blocks of whole
// rows of one sample; every block writes its own part of the result with one GEMM, and the
// weight gradient sums per-chunk partials in chunk order, so results repeat bitwise at a fixed
// thread count.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/small_gemm.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {
using Geom = Conv2dGeom;

// Elements of one im2col block (4 MiB in f32): big enough for an efficient GEMM, small enough
// to stay in cache and to bound memory for large images.
constexpr int64_t kBlockBudget = 1 << 20;

CBLAS_TRANSPOSE tr(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}

// Row-major C[m, n] = op(A) op(B) + beta * C. In f32 the convolution's own kernels where the
// CPU has them: every call here has a channel count on one side, where OpenBLAS spends half its
// time packing (small_gemm.h); op(B) is never a transpose of the long side except as dot rows.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (small_gemm_supported()) {
    if (!tb) {
      gemm_rows(ta, m, n, k, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    if (!ta) {
      gemm_dots(m, n, k, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  }
  cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), 1.0f, a,
              blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), 1.0, a,
              blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}

int64_t max_threads() {
  return omp_in_parallel() ? 1 : omp_get_max_threads();
}

// Multiply-adds below which a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 17;

// Multiply-adds of the GEMM for one output row.
int64_t row_work(const Geom& g) {
  return std::max<int64_t>(1, g.O * g.K() * g.OW);
}

// Output rows per block: within the memory budget, and, when there are fewer samples than
// threads, small enough to give every thread a block (unless blocks would get too small).
int64_t rows_per_block(const Geom& g) {
  int64_t r = std::clamp<int64_t>(kBlockBudget / std::max<int64_t>(g.K() * g.OW, 1), 1, g.OH);
  const int64_t threads = max_threads();
  if (g.N < threads) {
    const int64_t want = (threads + g.N - 1) / std::max<int64_t>(g.N, 1);
    const int64_t split = (g.OH + want - 1) / want;
    const int64_t least = (kMinParallelWork + row_work(g) - 1) / row_work(g);
    r = std::min(r, std::max(split, least));
  }
  return r;
}

// Blocks of R rows per parallel range, so that tiny convolutions stay on one thread.
int64_t block_grain(const Geom& g, int64_t R) {
  return std::max<int64_t>(1, kMinParallelWork / (row_work(g) * R));
}

// Output columns ow whose input column ow*s - p + j lies inside [0, W).
struct Span {
  int64_t lo, hi;
};
Span valid_span(int64_t j, int64_t s, int64_t p, int64_t extent, int64_t out) {
  const int64_t lo = p - j <= 0 ? 0 : std::min(out, (p - j + s - 1) / s);
  const int64_t last = extent - 1 + p - j;
  const int64_t hi = last < 0 ? 0 : std::min(out, last / s + 1);
  return {lo, std::max(lo, hi)};
}

// cols[(c, i, j), (oh - oh0) * OW + ow] = x[c, oh*s - p + i, ow*s - p + j] (0 in the padding)
// for output rows [oh0, oh1) of one sample x [C, H, W].
template <typename T>
void im2col(const T* x, const Geom& g, int64_t oh0, int64_t oh1, T* cols) {
  const int64_t ncols = (oh1 - oh0) * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* dst = cols + ((c * g.kh + i) * g.kw + j) * ncols;
        const Span sp = valid_span(j, g.s, g.p, g.W, g.OW);
        for (int64_t oh = oh0; oh < oh1; ++oh, dst += g.OW) {
          const int64_t ih = oh * g.s - g.p + i;
          if (ih < 0 || ih >= g.H) {
            std::fill(dst, dst + g.OW, T(0));
            continue;
          }
          std::fill(dst, dst + sp.lo, T(0));
          std::fill(dst + sp.hi, dst + g.OW, T(0));
          if (sp.hi == sp.lo) continue;
          const T* src = x + (c * g.H + ih) * g.W + (sp.lo * g.s - g.p + j);
          if (g.s == 1) {
            std::memcpy(dst + sp.lo, src, size_t(sp.hi - sp.lo) * sizeof(T));
          } else {
            for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[ow] = src[(ow - sp.lo) * g.s];
          }
        }
      }
}

// The inverse of im2col restricted to input rows [ih0, ih1): dx[c, ih, iw] += dcols[...] for
// every column of output rows [oh0, oh1) that reads (ih, iw).
template <typename T>
void col2im_rows(const T* dcols, const Geom& g, int64_t oh0, int64_t oh1, int64_t ih0, int64_t ih1,
                 T* dx) {
  const int64_t ncols = (oh1 - oh0) * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* src = dcols + ((c * g.kh + i) * g.kw + j) * ncols;
        const Span sp = valid_span(j, g.s, g.p, g.W, g.OW);
        for (int64_t oh = oh0; oh < oh1; ++oh, src += g.OW) {
          const int64_t ih = oh * g.s - g.p + i;
          if (ih < ih0 || ih >= ih1 || sp.hi == sp.lo) continue;
          T* dst = dx + (c * g.H + ih) * g.W + (sp.lo * g.s - g.p + j);
          if (g.s == 1) {
#pragma omp simd
            for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[ow - sp.lo] += src[ow];
          } else {
            for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[(ow - sp.lo) * g.s] += src[ow];
          }
        }
      }
}

template <typename T>
void conv_forward(const Geom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t R = rows_per_block(g), nb = (g.OH + R - 1) / R, K = g.K(), L = g.L();
  parallel_for(g.N * nb, block_grain(g, R), [&](int64_t lo, int64_t hi) {
    std::vector<T> cols(g.direct() ? 0 : size_t(K * R * g.OW));
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t n = it / nb, oh0 = (it % nb) * R, oh1 = std::min(g.OH, oh0 + R);
      const int64_t ncols = (oh1 - oh0) * g.OW;
      const T* xn = x + n * g.C * g.H * g.W;
      T* yb = y + n * g.O * L + oh0 * g.OW;
      if (g.direct()) {
        gemm(false, false, g.O, ncols, K, w, K, xn + oh0 * g.OW, L, T(0), yb, L);
      } else {
        im2col(xn, g, oh0, oh1, cols.data());
        gemm(false, false, g.O, ncols, K, w, K, cols.data(), ncols, T(0), yb, L);
      }
      if (b)
        for (int64_t o = 0; o < g.O; ++o) {
          const T bo = b[o];
#pragma omp simd
          for (int64_t l = 0; l < ncols; ++l) yb[o * L + l] += bo;
        }
    }
  });
}

// dW = sum over samples and row blocks of dY_block cols_block^T. Blocks are split into chunks
// (one per thread); each chunk accumulates its own partial, and partials are added in chunk
// order.
template <typename T>
void conv_weight_grad(const Geom& g, const T* x, const T* gy, T* dw) {
  const int64_t R = rows_per_block(g), nb = (g.OH + R - 1) / R, K = g.K(), L = g.L();
  const int64_t items = g.N * nb, OK = g.O * K;
  const int64_t nchunks = std::clamp<int64_t>(items / block_grain(g, R), 1, max_threads());
  // Chunk 0 accumulates into dw itself; the others into buffers each thread zeroes itself.
  std::vector<std::unique_ptr<T[]>> partial;
  for (int64_t ch = 1; ch < nchunks; ++ch) partial.emplace_back(new T[size_t(OK)]);
  parallel_for(nchunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<T> cols(g.direct() ? 0 : size_t(K * R * g.OW));
    for (int64_t ch = c0; ch < c1; ++ch) {
      T* acc = ch == 0 ? dw : partial[size_t(ch - 1)].get();
      std::fill(acc, acc + OK, T(0));
      for (int64_t it = items * ch / nchunks; it < items * (ch + 1) / nchunks; ++it) {
        const int64_t n = it / nb, oh0 = (it % nb) * R, oh1 = std::min(g.OH, oh0 + R);
        const int64_t ncols = (oh1 - oh0) * g.OW;
        const T* xn = x + n * g.C * g.H * g.W;
        const T* gb = gy + n * g.O * L + oh0 * g.OW;
        if (g.direct()) {
          gemm(false, true, g.O, K, ncols, gb, L, xn + oh0 * g.OW, L, T(1), acc, K);
        } else {
          im2col(xn, g, oh0, oh1, cols.data());
          gemm(false, true, g.O, K, ncols, gb, L, cols.data(), ncols, T(1), acc, K);
        }
      }
    }
  });
  if (nchunks == 1) return;
  parallel_for(OK, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (const std::unique_ptr<T[]>& part : partial) {
      const T* pp = part.get();
#pragma omp simd
      for (int64_t e = lo; e < hi; ++e) dw[e] += pp[e];
    }
  });
}

// dX when kernel rows do not overlap (kh <= stride, as in a patch embedding): blocks of output
// rows read disjoint input rows, so each block scatters its dcols = W^T dY into dX on its own.
template <typename T>
void conv_input_grad_disjoint(const Geom& g, const T* w, const T* gy, T* dx) {
  const int64_t K = g.K(), L = g.L();
  const int64_t R = rows_per_block(g), nb = (g.OH + R - 1) / R;
  parallel_for(g.N * nb, block_grain(g, R), [&](int64_t lo, int64_t hi) {
    std::vector<T> dcols(size_t(K * R * g.OW));
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t n = it / nb, oh0 = (it % nb) * R, oh1 = std::min(g.OH, oh0 + R);
      const int64_t ncols = (oh1 - oh0) * g.OW;
      const T* gb = gy + n * g.O * L + oh0 * g.OW;
      T* dxn = dx + n * g.C * g.H * g.W;
      if (g.direct()) {
        gemm(true, false, K, ncols, g.O, w, K, gb, L, T(0), dxn + oh0 * g.OW, L);
        continue;
      }
      gemm(true, false, K, ncols, g.O, w, K, gb, L, T(0), dcols.data(), ncols);
      col2im_rows(dcols.data(), g, oh0, oh1, 0, g.H, dxn);
    }
  });
}

// dX when kernel rows overlap: by blocks of input rows, one kernel tap (i, j) at a time. For a
// tap, the output rows feeding a block are its own (no recomputation at block edges):
// T = W[:, :, i, j]^T dY[rows] is scattered into dX, taps in (i, j) order.
template <typename T>
void conv_input_grad_taps(const Geom& g, const T* w, const T* gy, T* dx) {
  const int64_t L = g.L(), taps = g.kh * g.kw;
  // wt[t][o][c] = w[o][c][t]: each tap's weight becomes a plain [O, C] matrix.
  std::vector<T> wt(size_t(taps * g.O * g.C));
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t t = 0; t < taps; ++t)
        wt[size_t((t * g.O + o) * g.C + c)] = w[(o * g.C + c) * taps + t];
  Geom per_tap = g;  // block sizes for GEMMs of C (not C*kh*kw) rows
  per_tap.kh = per_tap.kw = 1;
  const int64_t R = rows_per_block(per_tap), Rin = R * g.s, nb = (g.H + Rin - 1) / Rin;
  parallel_for(g.N * nb, block_grain(g, R), [&](int64_t lo, int64_t hi) {
    std::vector<T> tbuf(size_t(g.C * R * g.OW));
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t n = it / nb, ih0 = (it % nb) * Rin, ih1 = std::min(g.H, ih0 + Rin);
      const T* gn = gy + n * g.O * L;
      T* dxn = dx + n * g.C * g.H * g.W;
      for (int64_t i = 0; i < g.kh; ++i) {
        // Output rows with ih0 <= oh*s - p + i < ih1 (at most R of them).
        const int64_t a = ih0 + g.p - i, b = ih1 + g.p - i;
        const int64_t oh0 = a <= 0 ? 0 : (a + g.s - 1) / g.s;
        const int64_t oh1 = b <= 0 ? 0 : std::min(g.OH, (b + g.s - 1) / g.s);
        if (oh0 >= oh1) continue;
        const int64_t ncols = (oh1 - oh0) * g.OW;
        for (int64_t j = 0; j < g.kw; ++j) {
          gemm(true, false, g.C, ncols, g.O, wt.data() + (i * g.kw + j) * g.O * g.C, g.C,
               gn + oh0 * g.OW, L, T(0), tbuf.data(), ncols);
          const Span sp = valid_span(j, g.s, g.p, g.W, g.OW);
          if (sp.hi == sp.lo) continue;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t oh = oh0; oh < oh1; ++oh) {
              const T* src = tbuf.data() + c * ncols + (oh - oh0) * g.OW;
              T* dst = dxn + (c * g.H + oh * g.s - g.p + i) * g.W + (sp.lo * g.s - g.p + j);
              if (g.s == 1) {
#pragma omp simd
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[ow - sp.lo] += src[ow];
              } else {
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[(ow - sp.lo) * g.s] += src[ow];
              }
            }
        }
      }
    }
  });
}

template <typename T>
void conv_input_grad(const Geom& g, const T* w, const T* gy, T* dx) {
  if (g.kh <= g.s) {
    conv_input_grad_disjoint(g, w, gy, dx);
  } else {
    conv_input_grad_taps(g, w, gy, dx);
  }
}

// db[o] = sum over n, then over spatial positions, accumulated in double.
template <typename T>
void conv_bias_grad(const Geom& g, const T* gy, T* db) {
  const int64_t L = g.L();
  parallel_for(g.O, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(g.N * L, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t o = lo; o < hi; ++o) {
                   double acc = 0;
                   for (int64_t n = 0; n < g.N; ++n) {
                     const T* row = gy + (n * g.O + o) * L;
                     for (int64_t l = 0; l < L; ++l) acc += double(row[l]);
                   }
                   db[o] = T(acc);
                 }
               });
}

}  // namespace

Tensor conv2d(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor out = Tensor::empty({g.N, g.O, g.OH, g.OW}, x.dtype());
  dispatch_float("conv2d", x.dtype(), [&]<typename T>() {
    conv_forward<T>(g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr,
                    out.data<T>());
  });
  return out;
}

std::vector<Tensor> conv2d_backward(const Geom& g, const Tensor& x, const Tensor& w,
                                    const Tensor& gy, const std::vector<bool>& needs) {
  Tensor dx, dw, db;
  dispatch_float("conv2d_backward", gy.dtype(), [&]<typename T>() {
    if (needs[0]) {
      dx = Tensor::zeros({g.N, g.C, g.H, g.W}, gy.dtype());
      conv_input_grad<T>(g, w.data<T>(), gy.data<T>(), dx.data<T>());
    }
    if (needs[1]) {
      dw = Tensor::empty({g.O, g.C, g.kh, g.kw}, gy.dtype());
      conv_weight_grad<T>(g, x.data<T>(), gy.data<T>(), dw.data<T>());
    }
    if (needs[2]) {
      db = Tensor::empty({g.O}, gy.dtype());
      conv_bias_grad<T>(g, gy.data<T>(), db.data<T>());
    }
  });
  return {dx, dw, db};
}

}  // namespace xomni::cpu
