// CPU SwiGLU, silu(gate) * up, forward and backward in one pass each. The expressions are those
// of silu and mul (elementwise.cpp), so the fused op rounds like the composition.
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/elementwise.h"
#include "ops/cpu/vec_math.h"

namespace xomni::cpu {

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  Tensor out = Tensor::empty(gate.shape(), gate.dtype());
  dispatch_float("swiglu", gate.dtype(), [&]<typename T>() {
    const T* a = gate.data<T>();
    const T* b = up.data<T>();
    T* y = out.data<T>();
    parallel_for(gate.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) y[i] = a[i] / (T(1) + fast_exp(-a[i])) * b[i];
    });
  });
  return out;
}

// d/dgate = g * up * sig * (1 + gate * (1 - sig)), d/dup = g * silu(gate).
std::vector<Tensor> swiglu_backward(const Tensor& gate, const Tensor& up, const Tensor& g) {
  Tensor g_gate = Tensor::empty(gate.shape(), gate.dtype());
  Tensor g_up = Tensor::empty(gate.shape(), gate.dtype());
  dispatch_float("swiglu_backward", gate.dtype(), [&]<typename T>() {
    const T* a = gate.data<T>();
    const T* b = up.data<T>();
    const T* gy = g.data<T>();
    T* ga = g_gate.data<T>();
    T* gb = g_up.data<T>();
    parallel_for(gate.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) {
        const T e = T(1) + fast_exp(-a[i]);
        const T sig = T(1) / e;
        ga[i] = (gy[i] * b[i]) * (sig * (T(1) + a[i] * (T(1) - sig)));
        gb[i] = gy[i] * (a[i] / e);
      }
    });
  });
  return {g_gate, g_up};
}

}  // namespace xomni::cpu
