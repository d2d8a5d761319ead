#pragma once
// f32 GEMMs for the shapes of convolutions: one short side (channels, 16-256) against a long one
// (pixels of a row block). OpenBLAS packs the long operand on every call; at m = 32 that is about
// half its time (100 GFLOP/s a thread on the flow decoder's shapes against 240 for the FMA
// units). These kernels read both operands where they lie. AVX-512 only: callers fall back to
// cblas where small_gemm_supported() is false.
//
// Each C element is a fixed sequence: chains of fused multiply-adds over passes of 256 k in order,
// each pass added into C (gemm_rows), or a fixed tree of 16-lane partial sums (gemm_dots); so
// results do not depend on how callers split the work.
#include <cstdint>

namespace xomni::cpu {

// AVX-512F on this CPU and not switched off (set_small_gemm_enabled(false), or XOMNI_OWN_GEMM=0 in
// the environment at start).
bool small_gemm_supported();
// Tests compare both paths; the switch is process-wide.
void set_small_gemm_enabled(bool on);

// C[m, n] = beta C + op(A) B, single-threaded. op(A) is A [m, k] (row stride lda) or, with
// a_trans, the transpose of A stored [k, m] (row stride lda); B is [k, n] (row stride ldb).
// beta is 0 or 1.
void gemm_rows(bool a_trans, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// C[m, n] = beta C + A B^T, single-threaded: A [m, k] and B [n, k] with rows contiguous in k (the
// long side: dot products of rows). beta is 0 or 1.
void gemm_dots(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float beta, float* c, int64_t ldc);

// A whole f32 GEMM on these kernels, C[m, n] = beta C + op(A) op(B) (row-major, beta 0 or 1),
// split over the OpenMP threads by column panels or row blocks (one thread inside a parallel
// region). A transposed B is copied once into rows when m is large enough to repay the copy (the
// linear layers' x W^T at thousands of tokens), else it becomes dot products. The result does not
// depend on the thread count.
void gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Whether f32 matmuls should take gemm_f32 instead of OpenBLAS: the CPU has AVX-512 (and the
// switch is on) while the kernel set OpenBLAS loaded does not use it (e.g. this project's machines
// set OPENBLAS_CORETYPE=Haswell); its AVX-512 sets are as fast or faster on large shapes.
bool prefer_own_f32_gemm();

}  // namespace xomni::cpu
