#pragma once
// The precision of f32 matmul and linear GEMMs on the CPU, forward and backward, process-wide.
// fp32 (the default) is cblas_sgemm. bf16 rounds only the GEMM inputs to bf16 and accumulates in
// fp32 (bf16_gemm.h); tensors, gradients and optimizer state stay f32, and f64 stays f64.
#include <string>

#include "xomni/core/ops/bf16_gemm.h"

namespace xomni {

enum class MatmulPrecision { fp32, bf16 };

const char* matmul_precision_name(MatmulPrecision p);
// "fp32" or "bf16"; anything else is an error naming `where`.
MatmulPrecision parse_matmul_precision(const std::string& text, const std::string& where);

// Why bf16 GEMMs cannot run here ("" when they can): the CPU has neither AMX nor AVX512-BF16, or
// XOMNI_DISABLE_BF16=1 forces the fp32 fallback (read at each call).
std::string bf16_unavailable_reason();
// Sets the precision; bf16 where it cannot run is an error saying why. bf16 picks its kernel here:
// the detected one, or AVX512-BF16 on an AMX CPU when XOMNI_BF16_KERNEL=avx512_bf16 asks for it.
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
// The kernel bf16 picked (none under fp32).
Bf16Kernel matmul_bf16_kernel();
// Sets `wanted` where it can run; otherwise fp32, with a warning on stderr (printed once per
// process) saying why. Returns the precision in effect.
MatmulPrecision use_matmul_precision(MatmulPrecision wanted);

// Sets a precision for a scope (use_matmul_precision's fallback included), then restores the one
// before.
class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(MatmulPrecision wanted)
      : before_(matmul_precision()), now_(use_matmul_precision(wanted)) {}
  ~MatmulPrecisionScope() { set_matmul_precision(before_); }
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;
  MatmulPrecision in_effect() const { return now_; }

 private:
  MatmulPrecision before_, now_;
};

}  // namespace xomni
