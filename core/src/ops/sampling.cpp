// Token sampling helpers: checks around the row kernels (cpu/sampling.cpp). No autograd.
#include "xomni/core/ops/sampling.h"

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {

void check_logits(const char* op, const Tensor& logits) {
  check_dtype(op, logits, {DType::f32, DType::f64});
  XOMNI_CHECK(logits.dim() == 2 && logits.shape()[1] > 0, op,
              ": logits must be [N, V] with V > 0, got ", shape_str(logits.shape()));
}

}  // namespace

Tensor greedy(const Tensor& logits) {
  check_logits("greedy", logits);
  return argmax(logits, -1);
}

Tensor top_k_filter(const Tensor& logits, int64_t k) {
  XOMNI_CHECK(k > 0, "top_k_filter: k must be positive, got ", k);
  check_logits("top_k_filter", logits);
  NoGradGuard no_grad;
  const Tensor x = logits.contiguous();
  return kernels_for(x.device()).top_k_filter(x, k);
}

Tensor top_p_filter(const Tensor& logits, double p) {
  XOMNI_CHECK(p > 0 && p <= 1, "top_p_filter: p must be in (0, 1], got ", p);
  check_logits("top_p_filter", logits);
  NoGradGuard no_grad;
  const Tensor x = logits.contiguous();
  return kernels_for(x.device()).top_p_filter(x, p);
}

Tensor multinomial(const Tensor& logits, Generator& gen, double temperature) {
  check_logits("multinomial", logits);
  XOMNI_CHECK(temperature >= 0, "multinomial: temperature must be >= 0, got ", temperature);
  if (temperature == 0) return greedy(logits);
  const Tensor x = logits.contiguous().to(DType::f64);
  const uint64_t base = gen.reserve(uint64_t(x.shape()[0]));
  return kernels_for(x.device()).multinomial(x, gen.seed(), base, temperature);
}

}  // namespace xomni
