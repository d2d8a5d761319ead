#include "xomni/core/ops/blas_info.h"

#include <cblas.h>

#include <cstdlib>

namespace xomni {

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? std::string(name) : std::string();
}

std::string blas_kernel_warning(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2,
                                const char* coretype_env) {
  if (coretype_env && *coretype_env) return "";  // the user chose
  const bool avx512_set = core == "SkylakeX" || core == "Cooperlake" || core == "CooperLake" ||
                          core == "SapphireRapids";
  const bool avx2_set = avx512_set || core == "Haswell" || core == "Zen";
  const char* suggest = nullptr;
  if (cpu_has_avx512 && !avx512_set)
    suggest = "SkylakeX";
  else if (cpu_has_avx2 && !avx2_set)
    suggest = "Haswell";
  if (!suggest) return "";
  return "OpenBLAS runs its '" + core + "' kernels on a CPU with " +
         (cpu_has_avx512 ? "AVX-512" : "AVX2") +
         ": f32 GEMMs run several times slower than they can. Set OPENBLAS_CORETYPE=" + suggest +
         " in the environment before starting (it is read when OpenBLAS loads; see docs/PERF.md)";
}

std::string blas_kernel_warning() {
  return blas_kernel_warning(blas_core_name(), __builtin_cpu_supports("avx512f"),
                             __builtin_cpu_supports("avx2"), std::getenv("OPENBLAS_CORETYPE"));
}

}  // namespace xomni
