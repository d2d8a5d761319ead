#pragma once
// Internal: elementwise kernel templates shared by the CPU kernel files. `op` is a generic lambda
// instantiated for the compute type T (float or double).
#include "tensor/strided.h"
#include "tensor/threading.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::cpu {

constexpr int64_t kElementwiseGrain = 1 << 15;

template <typename Op>
Tensor map_unary(const char* name, const Tensor& a_in, Op op) {
  check_dtype(name, a_in, {DType::f32, DType::f64});
  const Tensor a = a_in.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch_float(name, a.dtype(), [&]<typename T>() {
    const T* x = a.data<T>();
    T* y = out.data<T>();
    parallel_for(a.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) y[i] = op(x[i]);
    });
  });
  return out;
}

// out = op(a, b) with broadcasting; the output dtype is the (shared) input dtype.
template <typename Op>
Tensor map_binary(const char* name, const Tensor& a, const Tensor& b, Op op) {
  check_dtype(name, a, {DType::f32, DType::f64});
  check_same_dtype(name, a, b);
  check_same_device(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_float(name, a.dtype(), [&]<typename T>() {
    const T* x = static_cast<const T*>(a.raw_data());
    const T* z = static_cast<const T*>(b.raw_data());
    T* y = out.data<T>();
    const int64_t n = out.numel();
    if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
      parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
#pragma omp simd
        for (int64_t i = lo; i < hi; ++i) y[i] = op(x[i], z[i]);
      });
      return;
    }
    const Shape sa = broadcast_strides(a.shape(), a.strides(), shape);
    const Shape sb = broadcast_strides(b.shape(), b.strides(), shape);
    const Shape so = out.strides();
    parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for_each_run<3>(shape, {&so, &sa, &sb}, lo, hi, [&](const StridedRun<3>& r) {
        T* yp = y + r.offset[0];
        const T* xp = x + r.offset[1];
        const T* zp = z + r.offset[2];
        const int64_t s1 = r.stride[1], s2 = r.stride[2];
        if (s1 == 1 && s2 == 1) {
#pragma omp simd
          for (int64_t i = 0; i < r.length; ++i) yp[i] = op(xp[i], zp[i]);
        } else if (s1 == 1 && s2 == 0) {
          const T zv = *zp;
#pragma omp simd
          for (int64_t i = 0; i < r.length; ++i) yp[i] = op(xp[i], zv);
        } else if (s1 == 0 && s2 == 1) {
          const T xv = *xp;
#pragma omp simd
          for (int64_t i = 0; i < r.length; ++i) yp[i] = op(xv, zp[i]);
        } else {
          for (int64_t i = 0; i < r.length; ++i) yp[i] = op(xp[i * s1], zp[i * s2]);
        }
      });
    });
  });
  return out;
}

}  // namespace xomni::cpu
