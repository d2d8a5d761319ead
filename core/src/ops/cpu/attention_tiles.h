#pragma once
// Internal: pieces shared by the tiled attention kernels (attention_forward.cpp and
// attention_backward.cpp): problem geometry, the masking rules applied per tile, row
// kernels (max, exp with an AVX2 path for f32), and BLAS wrappers for both float types.
#include <cblas.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace xomni::attn {

// Queries x keys per score tile: one 64x64 tile of scores (16 KiB in f32) per thread.
constexpr int64_t kTileQ = 64;
constexpr int64_t kTileK = 64;

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Work units smaller than this many multiply-adds are grouped so that a small problem stays on
// one thread (waking a team costs more than it saves).
constexpr int64_t kMinParallelWork = int64_t(1) << 20;
inline int64_t grain_for(int64_t work_per_unit) {
  return ceil_div(kMinParallelWork, std::max<int64_t>(work_per_unit, 1));
}

// One call's geometry and masks. Tensors are contiguous: q/out [B, Hq, Tq, D],
// k/v [B, Hkv, Tk, D]; masks are optional (null).
struct Problem {
  int64_t B = 0, Hq = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0;
  double scale = 1.0;
  bool causal = false;
  const int64_t* q_seg = nullptr;  // [B, Tq]
  const int64_t* k_seg = nullptr;  // [B, Tk]
  const uint8_t* pad = nullptr;    // [B, Tk], nonzero = padded key

  int64_t group() const { return Hq / Hkv; }
  // Causal rule: query i sees key j iff j <= i + diag() (bottom-right alignment).
  int64_t diag() const { return Tk - Tq; }
};

enum class TileKind { skip, full, masked };

// Whether the tile of queries [i0, i0+bq) x keys [j0, j0+bk) of batch b is entirely hidden
// (skip), entirely visible (full), or needs the per-element mask.
inline TileKind classify(const Problem& p, int64_t b, int64_t i0, int64_t bq, int64_t j0,
                         int64_t bk) {
  bool partial = false;
  if (p.causal) {
    if (j0 > i0 + bq - 1 + p.diag()) return TileKind::skip;
    partial |= j0 + bk - 1 > i0 + p.diag();
  }
  if (p.pad) {
    int64_t padded = 0;
    for (int64_t c = 0; c < bk; ++c) padded += p.pad[b * p.Tk + j0 + c] != 0;
    if (padded == bk) return TileKind::skip;
    partial |= padded > 0;
  }
  if (p.q_seg) {
    const int64_t* qs = p.q_seg + b * p.Tq + i0;
    const int64_t* ks = p.k_seg + b * p.Tk + j0;
    const auto [qlo, qhi] = std::minmax_element(qs, qs + bq);
    const auto [klo, khi] = std::minmax_element(ks, ks + bk);
    if (*qhi < *klo || *khi < *qlo) return TileKind::skip;  // no id can match
    partial |= !(*qlo == *qhi && *klo == *khi && *qlo == *klo);
  }
  return partial ? TileKind::masked : TileKind::full;
}

// Sets hidden scores of a tile (rows of stride lds) to -inf.
template <typename T>
void apply_mask(const Problem& p, int64_t b, int64_t i0, int64_t bq, int64_t j0, int64_t bk, T* s,
                int64_t lds) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t* ks = p.k_seg ? p.k_seg + b * p.Tk + j0 : nullptr;
  const uint8_t* pd = p.pad ? p.pad + b * p.Tk + j0 : nullptr;
  for (int64_t r = 0; r < bq; ++r) {
    const int64_t i = i0 + r;
    // Columns c <= last are causally visible.
    const int64_t last = p.causal ? std::min(bk - 1, i + p.diag() - j0) : bk - 1;
    T* row = s + r * lds;
    for (int64_t c = std::max<int64_t>(last + 1, 0); c < bk; ++c) row[c] = kNegInf;
    if (ks) {
      const int64_t qs = p.q_seg[b * p.Tq + i];
      for (int64_t c = 0; c <= last; ++c) row[c] = ks[c] == qs ? row[c] : kNegInf;
    }
    if (pd)
      for (int64_t c = 0; c <= last; ++c) row[c] = pd[c] ? kNegInf : row[c];
  }
}

// Row kernels on one tile row: max, and x = exp(x - shift) with or without the sum. Sums run in
// a fixed order. Generic versions use std::exp; f32 on AVX2 uses exp8 below.
template <typename T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t c = 0; c < n; ++c) m = x[c] > m ? x[c] : m;
  return m;
}
template <typename T>
T exp_shift_sum(T* x, int64_t n, T shift) {
  T s = 0;
  for (int64_t c = 0; c < n; ++c) {
    x[c] = std::exp(x[c] - shift);
    s += x[c];
  }
  return s;
}
template <typename T>
void exp_shift(T* x, int64_t n, T shift) {
  for (int64_t c = 0; c < n; ++c) x[c] = std::exp(x[c] - shift);
}

#if defined(__AVX2__) && defined(__FMA__)
// exp of 8 floats: n = round(x / ln2), r = x - n ln2 (Cody-Waite, two parts), a degree-7 Taylor
// polynomial for e^r on |r| <= ln2/2 (truncation error < 1e-8 relative), times 2^n built in the
// exponent bits. Inputs below -87 give exactly 0 (so exp(-inf) = 0); above 88 are clamped; NaN
// stays NaN (max/min return their second operand when one is NaN).
inline __m256 exp8(__m256 x) {
  const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 y = _mm256_set1_ps(1.0f / 5040.0f);
  for (float c : {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f})
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

// Applies exp8 to x[0, n) - shift; the tail goes through a padded block so every element gets
// the same arithmetic. Returns the sum of the results (lanes added in a fixed order).
inline float exp8_rows(float* x, int64_t n, float shift) {
  const __m256 sh = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + c), sh));
    _mm256_storeu_ps(x + c, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (c < n) {
    alignas(32) float tail[8];
    std::fill(tail, tail + 8, -std::numeric_limits<float>::infinity());
    std::copy(x + c, x + n, tail);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(tail), sh));
    _mm256_store_ps(tail, e);
    std::copy(tail, tail + (n - c), x + c);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float s = 0;
  for (float l : lanes) s += l;
  return s;
}
template <>
inline float exp_shift_sum<float>(float* x, int64_t n, float shift) {
  return exp8_rows(x, n, shift);
}
template <>
inline void exp_shift<float>(float* x, int64_t n, float shift) {
  exp8_rows(x, n, shift);
}
template <>
inline float row_max<float>(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + c));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = lanes[0];
  for (int l = 1; l < 8; ++l) r = lanes[l] > r ? lanes[l] : r;
  for (; c < n; ++c) r = x[c] > r ? x[c] : r;
  return r;
}
#endif

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, in 8x8 blocks (full blocks with
// constant bounds so the compiler unrolls them).
template <typename T>
void transpose(const T* src, int64_t rows, int64_t cols, int64_t lds, T* dst, int64_t ldd) {
  constexpr int64_t kB = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kB)
    for (int64_t c0 = 0; c0 < cols; c0 += kB) {
      const T* s = src + r0 * lds + c0;
      T* d = dst + c0 * ldd + r0;
      if (r0 + kB <= rows && c0 + kB <= cols) {
        for (int64_t c = 0; c < kB; ++c)
          for (int64_t r = 0; r < kB; ++r) d[c * ldd + r] = s[r * lds + c];
      } else {
        const int64_t nr = std::min(kB, rows - r0), nc = std::min(kB, cols - c0);
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < nr; ++r) d[c * ldd + r] = s[r * lds + c];
      }
    }
}

// Row-major C = alpha op(A) op(B) + beta C. The tile products are arranged as NN or TN only:
// OpenBLAS runs those with its small-matrix kernels (where it has them), while NT (A B^T with
// both row-major) takes the general path with packing, several times slower at 64x64x64. So K
// and V tiles are transposed once into scratch instead.
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                 int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// Forward: out [B, Hq, Tq, D] and the per-row logsumexp of the scaled, masked scores
// lse [B, Hq, Tq] (+inf for a row with no visible key).
template <typename T>
void forward(const Problem& p, const T* q, const T* k, const T* v, T* out, T* lse);

// Backward from dout; writes into zero-initialised dq, dk, dv (null when not needed).
template <typename T>
void backward(const Problem& p, const T* q, const T* k, const T* v, const T* out, const T* lse,
              const T* dout, T* dq, T* dk, T* dv);

}  // namespace xomni::attn
