// CPU AdamW element update.
#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

// One AdamW update of n contiguous elements; the operation order follows torch's
// single-tensor AdamW (each line below is one torch in-place op). The gradient is first
// multiplied by grad_scale, rounded to T as an in-place scaling of it would be, so a clipped
// step equals scaling the gradients and then stepping, bitwise, without a pass that writes them.
template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, T decay, T b1, T one_minus_b1, T b2,
                T one_minus_b2, T bc2_sqrt, T eps, T neg_step_size, T grad_scale) {
  parallel_for(n, 1 << 14, [=](int64_t begin, int64_t end) {
    // Restrict-qualified copies: through the closure's captured pointers GCC assumes a store to
    // p[i] may change m or v and emits scalar code (5x slower on a GPT-2-small step).
    T* __restrict pp = p;
    const T* __restrict gg = g;
    T* __restrict mm = m;
    T* __restrict vv = v;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const T gi = gg[i] * grad_scale;                   // grad.mul_(clip_coef)
      const T pi = pp[i] * decay;                        // param.mul_(1 - lr * wd)
      const T mi = mm[i] * b1 + one_minus_b1 * gi;       // exp_avg.mul_(b1).add_(g, 1 - b1)
      const T vi = vv[i] * b2 + one_minus_b2 * gi * gi;  // exp_avg_sq.mul_(b2).addcmul_(g, g)
      const T denom = std::sqrt(vi) / bc2_sqrt + eps;    // (v.sqrt() / bc2_sqrt).add_(eps)
      pp[i] = pi + neg_step_size * (mi / denom);         // param.addcdiv_(m, denom, -step_size)
      mm[i] = mi;
      vv[i] = vi;
    }
  });
}

}  // namespace

void adamw_update(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                  int64_t n, const AdamWScalars& s) {
  dispatch_float("AdamW", dtype, [&]<typename T>() {
    adamw_step<T>(static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(exp_avg),
                  static_cast<T*>(exp_avg_sq), n, T(s.decay), T(s.beta1), T(s.one_minus_beta1),
                  T(s.beta2), T(s.one_minus_beta2), T(s.bc2_sqrt), T(s.eps), T(s.neg_step_size),
                  T(s.grad_scale));
  });
}

}  // namespace xomni::cpu
