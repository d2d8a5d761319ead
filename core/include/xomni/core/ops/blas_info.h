#pragma once
// Which OpenBLAS kernel set runs the f32/f64 GEMMs, and a warning when it is far below what the
// CPU can do. OpenBLAS picks its kernels once, when it loads, from the CPU id; a release that
// does not know the CPU falls back to a generic SSE3 set ("Prescott") that runs GEMMs about ten
// times slower than the AVX-512 set (Debian's 0.3.21 on Sapphire Rapids does: docs/PERF.md).
// Only the environment variable OPENBLAS_CORETYPE, set before the process starts, changes it.
#include <string>

namespace xomni {

// OpenBLAS's name for the kernel set in use (e.g. "SkylakeX", "Haswell", "Prescott").
std::string blas_core_name();

// What to tell the user, or "" when nothing is wrong: the kernel set given that the CPU has
// AVX-512 / AVX2 and what OPENBLAS_CORETYPE holds (null: unset). A pure function, for tests.
std::string blas_kernel_warning(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2,
                                const char* coretype_env);
// The same for this process and CPU.
std::string blas_kernel_warning();

}  // namespace xomni
