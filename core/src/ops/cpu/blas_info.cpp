#include "xomni/core/ops/blas_info.h"

#include <cblas.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xomni {

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? std::string(name) : std::string();
}

bool blas_core_uses_avx512(const std::string& core) {
  return core == "SkylakeX" || core == "Cooperlake" || core == "CooperLake" ||
         core == "SapphireRapids";
}

std::string blas_coretype_suggestion(const std::string& core, bool cpu_has_avx512,
                                     bool cpu_has_avx2, const char* coretype_env) {
  if (coretype_env && *coretype_env) return "";  // the user chose
  const bool avx512_set = blas_core_uses_avx512(core);
  const bool avx2_set = avx512_set || core == "Haswell" || core == "Zen";
  if (cpu_has_avx512 && !avx512_set) return "SkylakeX";
  if (cpu_has_avx2 && !avx2_set) return "Haswell";
  return "";
}

std::string blas_kernel_warning(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2,
                                const char* coretype_env) {
  const std::string suggest =
      blas_coretype_suggestion(core, cpu_has_avx512, cpu_has_avx2, coretype_env);
  if (suggest.empty()) return "";
  return "OpenBLAS runs its '" + core + "' kernels on a CPU with " +
         (cpu_has_avx512 ? "AVX-512" : "AVX2") +
         ": f32 GEMMs run several times slower than they can. Set OPENBLAS_CORETYPE=" + suggest +
         " in the environment before starting (it is read when OpenBLAS loads; see docs/PERF.md)";
}

std::string blas_kernel_warning() {
  return blas_kernel_warning(blas_core_name(), __builtin_cpu_supports("avx512f"),
                             __builtin_cpu_supports("avx2"), std::getenv("OPENBLAS_CORETYPE"));
}

namespace {
// Rank 0 of an MPI or Slurm launch, or a process on its own.
bool first_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (const char* r = std::getenv(var)) return std::string(r) == "0";
  return true;
}
}  // namespace

void restart_with_fast_blas_kernels(char** argv) {
  const char* off = std::getenv("XOMNI_BLAS_RESTART");
  if (off && std::string(off) == "0") return;
  const char* pretend = std::getenv("XOMNI_PRETEND_BLAS_CORE");
  const std::string core = pretend && *pretend ? std::string(pretend) : blas_core_name();
  const std::string suggest =
      blas_coretype_suggestion(core, __builtin_cpu_supports("avx512f"),
                               __builtin_cpu_supports("avx2"), std::getenv("OPENBLAS_CORETYPE"));
  if (suggest.empty()) return;
  if (first_rank())
    std::fprintf(stderr,
                 "xomni: OpenBLAS loaded its '%s' kernels on a CPU with %s; restarting with "
                 "OPENBLAS_CORETYPE=%s (XOMNI_BLAS_RESTART=0 keeps them)\n",
                 core.c_str(), __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2",
                 suggest.c_str());
  std::fflush(stderr);
  // The child sees the variable set, so it never restarts again.
  if (setenv("OPENBLAS_CORETYPE", suggest.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "xomni: the restart failed (%s); continuing with the '%s' kernels\n",
               std::strerror(errno), core.c_str());
  unsetenv("OPENBLAS_CORETYPE");  // what runs now is still the generic set: keep the warning true
}

}  // namespace xomni
