// The process-wide matmul precision and the bf16 fallback's warning.
#include "xomni/core/ops/matmul_precision.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "xomni/core/tensor/error.h"

namespace xomni {
namespace {
std::atomic<MatmulPrecision> g_precision{MatmulPrecision::fp32};
std::atomic<Bf16Kernel> g_kernel{Bf16Kernel::none};
std::atomic<bool> g_warned{false};

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}
}  // namespace

const char* matmul_precision_name(MatmulPrecision p) {
  return p == MatmulPrecision::bf16 ? "bf16" : "fp32";
}

MatmulPrecision parse_matmul_precision(const std::string& text, const std::string& where) {
  if (text == "fp32") return MatmulPrecision::fp32;
  if (text == "bf16") return MatmulPrecision::bf16;
  throw Error(where + ": precision = \"" + text + "\" is not one of \"fp32\", \"bf16\"");
}

std::string bf16_unavailable_reason() {
  const char* off = std::getenv("XOMNI_DISABLE_BF16");
  if (off != nullptr && *off != '\0' && std::strcmp(off, "0") != 0)
    return "XOMNI_DISABLE_BF16=" + std::string(off) + " is set";
  if (bf16_kernel_detected() == Bf16Kernel::none)
    return "this CPU (or its OS) offers neither AMX-BF16 tiles nor AVX512-BF16";
  return "";
}

void set_matmul_precision(MatmulPrecision p) {
  if (p == MatmulPrecision::bf16) {
    const std::string why = bf16_unavailable_reason();
    XOMNI_CHECK(why.empty(), "bf16 matmul precision cannot run here: ", why);
  }
  Bf16Kernel k = Bf16Kernel::none;
  if (p == MatmulPrecision::bf16)
    k = env_is("XOMNI_BF16_KERNEL", "avx512_bf16") ? Bf16Kernel::avx512_bf16
                                                   : bf16_kernel_detected();
  g_kernel.store(k);
  g_precision.store(p);
}

MatmulPrecision matmul_precision() {
  return g_precision.load(std::memory_order_relaxed);
}

Bf16Kernel matmul_bf16_kernel() {
  return g_kernel.load(std::memory_order_relaxed);
}

MatmulPrecision use_matmul_precision(MatmulPrecision wanted) {
  if (wanted == MatmulPrecision::bf16) {
    const std::string why = bf16_unavailable_reason();
    if (!why.empty()) {
      if (!g_warned.exchange(true))
        std::fprintf(stderr, "warning: bf16 matmul precision is not available (%s); running fp32\n",
                     why.c_str());
      wanted = MatmulPrecision::fp32;
    }
  }
  set_matmul_precision(wanted);
  return wanted;
}

}  // namespace xomni
