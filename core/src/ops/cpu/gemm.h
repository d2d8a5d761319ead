#pragma once
// Internal: row-major GEMM for f32 and f64, C = A B (each operand optionally transposed)
// + beta C, with leading dimensions in elements. f32 runs on OpenBLAS, or on the bf16 kernel
// (inputs rounded to bf16, fp32 accumulation) while the matmul precision is bf16
// (matmul_precision.h), or on our AVX-512 kernels where OpenBLAS loaded a set without AVX-512 on
// a CPU that has it (small_gemm.h); f64 always on OpenBLAS.
#include <cblas.h>

#include <cstdint>

#include "ops/cpu/small_gemm.h"
#include "xomni/core/ops/bf16_gemm.h"
#include "xomni/core/ops/matmul_precision.h"

namespace xomni::cpu {

template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == 4) {
    // The kernel is set only while bf16 is on.
    if (const Bf16Kernel kernel = matmul_bf16_kernel(); kernel != Bf16Kernel::none)
      return gemm_bf16(kernel, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    if (prefer_own_f32_gemm()) return gemm_f32(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    cblas_sgemm(CblasRowMajor, TA, TB, int(m), int(n), int(k), 1.0f, a, int(lda), b, int(ldb), beta,
                c, int(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, TA, TB, int(m), int(n), int(k), 1.0, a, int(lda), b, int(ldb), beta,
                c, int(ldc));
  }
}

}  // namespace xomni::cpu
