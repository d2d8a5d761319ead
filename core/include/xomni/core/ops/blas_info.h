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

// Whether an OpenBLAS kernel set ("SkylakeX", "Cooperlake", ...) uses AVX-512.
bool blas_core_uses_avx512(const std::string& core);

// The OPENBLAS_CORETYPE that would run this CPU's vectors ("SkylakeX" for AVX-512, "Haswell" for
// AVX2), or "" when the loaded set already does or the user set the variable (coretype_env, null
// when unset). A pure function, for tests.
std::string blas_coretype_suggestion(const std::string& core, bool cpu_has_avx512,
                                     bool cpu_has_avx2, const char* coretype_env);

// What to tell the user, or "" when nothing is wrong (the same inputs).
std::string blas_kernel_warning(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2,
                                const char* coretype_env);
// The same for this process and CPU.
std::string blas_kernel_warning();

// For a program's main(), before anything else runs: when OpenBLAS loaded a generic kernel set on
// a CPU with wider vectors and OPENBLAS_CORETYPE is unset, sets it and re-executes the program
// (/proc/self/exe, the same argv and pid) so that every GEMM runs the fast set, and prints one
// line saying so (first rank only). Returns only when nothing was to do or the restart failed
// (then the trainer's warning still appears). XOMNI_BLAS_RESTART=0 turns it off;
// XOMNI_PRETEND_BLAS_CORE=<name> makes it act as if OpenBLAS had loaded that set (for tests).
void restart_with_fast_blas_kernels(char** argv);

}  // namespace xomni
