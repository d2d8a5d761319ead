#pragma once
// A GEMM on f32 operands that rounds its inputs to bf16 and accumulates in fp32: the CPU kernels
// behind MatmulPrecision::bf16 (matmul_precision.h). AMX tiles where the CPU has them, else
// AVX512-BF16 dot products; chosen at run time, so the library still runs on CPUs without either.
#include <cstdint>

namespace xomni {

enum class Bf16Kernel { none, avx512_bf16, amx };
const char* bf16_kernel_name(Bf16Kernel k);

// The best bf16 kernel this CPU and OS support (AMX also needs the kernel's permission to use the
// tile registers, asked for here); detected once per process.
Bf16Kernel bf16_kernel_detected();

// C = op(A) op(B) (beta 0) or C += op(A) op(B) (beta 1), row-major like cblas_sgemm: op(A) is
// [m, k] (A stored [k, m] when ta), op(B) is [k, n] (B stored [n, k] when tb). Every input is
// rounded to bf16 (nearest even, as float_to_bf16), each product is exact in fp32 and the sums
// are fp32. As the hardware does (both kernels), inputs below bf16's normal range (|x| < 2^-126)
// count as zero and results there flush to zero. `kernel` must be one the CPU supports
// (bf16_kernel_detected() or avx512_bf16 where that is amx).
void gemm_bf16(Bf16Kernel kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace xomni
