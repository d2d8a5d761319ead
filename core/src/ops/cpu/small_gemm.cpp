// AVX-512 kernels for convolution-shaped GEMMs (small_gemm.h). Only the functions marked with the
// target attribute use AVX-512, so the library still runs on any x86-64-v3 CPU.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers start some intrinsics (_mm512_reduce_add_ps) from an undefined
// register, which -Wuninitialized reports once inlined into a target-attribute function.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "ops/cpu/small_gemm.h"

#include <immintrin.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "xomni/core/tensor/error.h"

#define XOMNI_AVX512F __attribute__((target("avx512f")))

namespace xomni::cpu {
namespace {

// XOMNI_OWN_GEMM=0 in the environment starts with the kernels off (cblas everywhere): a quick
// way to tell whether a difference comes from them.
bool enabled_at_start() {
  const char* v = std::getenv("XOMNI_OWN_GEMM");
  return !(v && std::string(v) == "0");
}
std::atomic<bool> g_enabled{enabled_at_start()};

// Mask of the first `w` of 16 lanes (w may exceed 16 or be negative).
__mmask16 lanes(int64_t w) {
  return w >= 16 ? __mmask16(0xffff) : w <= 0 ? __mmask16(0) : __mmask16((1u << w) - 1);
}

// ---- gemm_rows: C[R x 64] panels, B rows loaded as 4 vectors, A broadcast ----------------------

constexpr int kRowsMax = 6;  // 6 x 4 accumulators + 4 B vectors + 1 broadcast of 32 registers
constexpr int64_t kRowsDepth = 256;  // rows of B per pass over C

// Rows [0, R) x columns [0, width) of C (width <= 64); op(A)[r, p] = a[r * ars + p * aks].
template <int R>
XOMNI_AVX512F void rows_panel(int64_t k, const float* a, int64_t ars, int64_t aks, const float* b,
                              int64_t ldb, int64_t width, float beta, float* c, int64_t ldc) {
  const __mmask16 m0 = lanes(width), m1 = lanes(width - 16), m2 = lanes(width - 32),
                  m3 = lanes(width - 48);
  __m512 acc[R][4];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = b + p * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16),
                 b2 = _mm512_maskz_loadu_ps(m2, bp + 32), b3 = _mm512_maskz_loadu_ps(m3, bp + 48);
    const float* ap = a + p * aks;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(ap[r * ars]);
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(x, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(x, b3, acc[r][3]);
    }
  }
  const __mmask16 mk[4] = {m0, m1, m2, m3};
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      float* dst = c + r * ldc + 16 * v;
      __m512 y = acc[r][v];
      if (beta != 0) y = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[v], dst), y);
      _mm512_mask_storeu_ps(dst, mk[v], y);
    }
}

using RowsPanel = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                           float, float*, int64_t);
// rows_panel<R> for R = 1..kRowsMax, at index R - 1.
constexpr RowsPanel kRowsPanels[kRowsMax] = {rows_panel<1>, rows_panel<2>, rows_panel<3>,
                                             rows_panel<4>, rows_panel<5>, rows_panel<6>};

XOMNI_AVX512F void rows_avx512(bool a_trans, int64_t m, int64_t n, int64_t k, const float* a,
                               int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                               int64_t ldc) {
  const int64_t ars = a_trans ? 1 : lda, aks = a_trans ? lda : 1;
  // Column panels outermost, then kRowsDepth rows of k at a time: that block of B (64 KiB) is
  // read once per 6 rows of A while it stays in L2 (a whole panel of a long k does not); C
  // accumulates the blocks in order.
  for (int64_t j = 0; j < n; j += 64) {
    const int64_t width = n - j < 64 ? n - j : 64;
    for (int64_t p = 0; p < k || p == 0; p += kRowsDepth) {
      const int64_t depth = k - p < kRowsDepth ? k - p : kRowsDepth;
      const float b_p = p == 0 ? beta : 1.0f;
      for (int64_t i = 0; i < m; i += kRowsMax) {
        const int64_t rows = m - i < kRowsMax ? m - i : kRowsMax;
        kRowsPanels[rows - 1](depth, a + i * ars + p * aks, ars, aks, b + p * ldb + j, ldb, width,
                              b_p, c + i * ldc + j, ldc);
      }
    }
  }
}

// ---- gemm_dots: 4 x 6 dot products at a time, 16 lanes each, reduced at the end ---------------

constexpr int kDotRows = 4, kDotCols = 6;

template <int RA, int RB>
XOMNI_AVX512F void dots_tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                             float beta, float* c, int64_t ldc) {
  __m512 acc[RA][RB];
#pragma GCC unroll 4
  for (int i = 0; i < RA; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < RB; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p += 16) {
    const __mmask16 mp = lanes(k - p);
    __m512 x[RA];
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i) x[i] = _mm512_maskz_loadu_ps(mp, a + i * lda + p);
#pragma GCC unroll 6
    for (int j = 0; j < RB; ++j) {
      const __m512 y = _mm512_maskz_loadu_ps(mp, b + j * ldb + p);
#pragma GCC unroll 4
      for (int i = 0; i < RA; ++i) acc[i][j] = _mm512_fmadd_ps(x[i], y, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < RA; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < RB; ++j) {
      const float s = _mm512_reduce_add_ps(acc[i][j]);
      float* dst = c + i * ldc + j;
      *dst = beta != 0 ? *dst + s : s;
    }
}

template <int RA>
XOMNI_AVX512F void dots_row_block(int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                                  int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + kDotCols <= n; j += kDotCols)
    dots_tile<RA, kDotCols>(k, a, lda, b + j * ldb, ldb, beta, c + j, ldc);
  for (; j < n; ++j) dots_tile<RA, 1>(k, a, lda, b + j * ldb, ldb, beta, c + j, ldc);
}

XOMNI_AVX512F void dots_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + kDotRows <= m; i += kDotRows)
    dots_row_block<kDotRows>(n, k, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  for (; i < m; ++i) dots_row_block<1>(n, k, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
}

}  // namespace

bool small_gemm_supported() {
  static const bool avx512f = __builtin_cpu_supports("avx512f");
  return avx512f && g_enabled.load(std::memory_order_relaxed);
}

void set_small_gemm_enabled(bool on) {
  g_enabled.store(on, std::memory_order_relaxed);
}

void gemm_rows(bool a_trans, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  XOMNI_CHECK(small_gemm_supported(), "gemm_rows: needs AVX-512F");
  XOMNI_CHECK(m >= 0 && n >= 0 && k >= 0 && (beta == 0 || beta == 1), "gemm_rows: m ", m, ", n ", n,
              ", k ", k, ", beta ", beta);
  rows_avx512(a_trans, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void gemm_dots(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float beta, float* c, int64_t ldc) {
  XOMNI_CHECK(small_gemm_supported(), "gemm_dots: needs AVX-512F");
  XOMNI_CHECK(m >= 0 && n >= 0 && k >= 0 && (beta == 0 || beta == 1), "gemm_dots: m ", m, ", n ", n,
              ", k ", k, ", beta ", beta);
  dots_avx512(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace xomni::cpu
