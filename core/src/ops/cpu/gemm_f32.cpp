// gemm_f32 (small_gemm.h): a whole f32 GEMM on the AVX-512 kernels, split over threads.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "ops/cpu/small_gemm.h"
#include "tensor/threading.h"
#include "xomni/core/ops/blas_info.h"

namespace xomni::cpu {
namespace {

// Below this many multiply-adds one thread does it all: a parallel region costs more.
constexpr double kMinThreadedWork = 1 << 18;
// A transposed B is copied into rows when each copied element serves at least this many rows
// of A (the copy is one pass over k x n; the dot-product kernel is ~1.5x slower than the rows
// kernel, so the copy pays from a few hundred rows on).
constexpr int64_t kMinRowsForCopy = 512;

// dst[p, j] = src[j, p]: a [n, k] matrix (row stride ld) into [k, n] rows, in 32 x 32 blocks.
void transpose_into(const float* src, int64_t ld, int64_t n, int64_t k, float* dst) {
  constexpr int64_t kB = 32;
  for (int64_t j0 = 0; j0 < n; j0 += kB)
    for (int64_t p0 = 0; p0 < k; p0 += kB)
      for (int64_t j = j0; j < std::min(n, j0 + kB); ++j)
        for (int64_t p = p0; p < std::min(k, p0 + kB); ++p) dst[p * n + j] = src[j * ld + p];
}

// fn(lo, hi) over [0, units): in one call when the product is too small to share or we are
// already inside a parallel region, else split over the threads.
template <typename Fn>
void over_units(double work, int64_t units, Fn&& fn) {
  if (omp_in_parallel() || work < kMinThreadedWork)
    fn(int64_t(0), units);
  else
    parallel_for(units, 1, fn);
}

}  // namespace

void gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const double work = double(m) * double(n) * double(k);
  if (tb && !ta && m < kMinRowsForCopy) {
    // Dot products of A's rows with B's rows, split by rows of C (whole 4-row tiles).
    over_units(work, (m + 3) / 4, [&](int64_t lo, int64_t hi) {
      const int64_t i0 = lo * 4, i1 = std::min(m, hi * 4);
      gemm_dots(i1 - i0, n, k, a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
    });
    return;
  }
  const float* rows_b = b;
  int64_t rows_ldb = ldb;
  thread_local std::vector<float> copy;  // reused: fresh pages are slow to touch here
  if (tb) {
    if (copy.size() < size_t(k * n)) copy.resize(size_t(k * n));
    transpose_into(b, ldb, n, k, copy.data());
    rows_b = copy.data(), rows_ldb = n;
  }
  const int64_t ars = ta ? 1 : lda;
  // Column panels of 64 when there are enough for every thread, else blocks of 6 rows.
  const int64_t panels = (n + 63) / 64, blocks = (m + 5) / 6;
  const bool by_columns = panels >= 2 * int64_t(omp_get_max_threads()) || panels >= blocks;
  over_units(work, by_columns ? panels : blocks, [&](int64_t lo, int64_t hi) {
    if (by_columns) {
      const int64_t j0 = lo * 64, j1 = std::min(n, hi * 64);
      gemm_rows(ta, m, j1 - j0, k, a, lda, rows_b + j0, rows_ldb, beta, c + j0, ldc);
    } else {
      const int64_t i0 = lo * 6, i1 = std::min(m, hi * 6);
      gemm_rows(ta, i1 - i0, n, k, a + i0 * ars, lda, rows_b, rows_ldb, beta, c + i0 * ldc, ldc);
    }
  });
}

bool prefer_own_f32_gemm() {
  static const bool blas_avx512 = blas_core_uses_avx512(blas_core_name());
  return small_gemm_supported() && !blas_avx512;
}

}  // namespace xomni::cpu
