// CPU elementwise kernels: unary maps, their fused backward kernels, broadcasting binary maps and
// the three-way select behind where/masked_fill.
#include "ops/cpu/elementwise.h"

#include <cmath>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/vec_math.h"

namespace xomni::cpu {
namespace {
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
T gelu_grad(T gy, T x) {
  const T cdf = T(0.5) * (T(1) + fast_erf(x * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * fast_exp(T(-0.5) * x * x);
  return gy * (cdf + x * pdf);
}

template <typename T>
T gelu_tanh_grad(T gy, T x) {
  const T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
  const T t = fast_tanh(inner);
  const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
  return gy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
}
}  // namespace

// FN is an expression in x (and T, its compute type).
#define XOMNI_MAP_UNARY(NAME, FN)  \
  map_unary(NAME, a, [=](auto x) { \
    using T = decltype(x);         \
    (void)sizeof(T);               \
    return FN;                     \
  })

Tensor unary(UnaryOp op, const Tensor& a, double s0, double s1) {
  switch (op) {
    case UnaryOp::add_scalar:
      return XOMNI_MAP_UNARY("add", x + T(s0));
    case UnaryOp::mul_scalar:
      return XOMNI_MAP_UNARY("mul", x * T(s0));
    case UnaryOp::neg:
      return XOMNI_MAP_UNARY("neg", -x);
    case UnaryOp::exp:
      return XOMNI_MAP_UNARY("exp", fast_exp(x));
    case UnaryOp::log:
      return XOMNI_MAP_UNARY("log", std::log(x));
    case UnaryOp::sqrt:
      return XOMNI_MAP_UNARY("sqrt", std::sqrt(x));
    case UnaryOp::rsqrt:
      return XOMNI_MAP_UNARY("rsqrt", T(1) / std::sqrt(x));
    case UnaryOp::tanh:
      return XOMNI_MAP_UNARY("tanh", fast_tanh(x));
    case UnaryOp::sigmoid:
      return XOMNI_MAP_UNARY("sigmoid", T(1) / (T(1) + fast_exp(-x)));
    case UnaryOp::silu:
      return XOMNI_MAP_UNARY("silu", x / (T(1) + fast_exp(-x)));
    case UnaryOp::relu:
      return XOMNI_MAP_UNARY("relu", x > T(0) ? x : T(0));
    case UnaryOp::pow:
      return XOMNI_MAP_UNARY("pow", std::pow(x, T(s0)));
    case UnaryOp::gelu:
      return XOMNI_MAP_UNARY("gelu", T(0.5) * x * (T(1) + fast_erf(x * T(kInvSqrt2))));
    case UnaryOp::gelu_tanh:
      return XOMNI_MAP_UNARY(
          "gelu_tanh",
          T(0.5) * x * (T(1) + fast_tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x))));
    case UnaryOp::clamp:
      return XOMNI_MAP_UNARY("clamp", x < T(s0) ? T(s0) : (x > T(s1) ? T(s1) : x));
  }
  throw Error("unary: unknown op");
}
#undef XOMNI_MAP_UNARY

// DERIV is gy times the derivative, an expression in gy and v: the forward's input x or output
// y (see unary_backward_uses_output).
#define XOMNI_MAP_BACKWARD(NAME, DERIV)                         \
  map_binary(NAME "_backward", g, saved, [=](auto gy, auto v) { \
    using T = decltype(v);                                      \
    (void)sizeof(T);                                            \
    return DERIV;                                               \
  })

Tensor unary_backward(UnaryOp op, const Tensor& g, const Tensor& saved, double s0, double s1) {
  switch (op) {
    case UnaryOp::exp:
      return XOMNI_MAP_BACKWARD("exp", gy * (v));
    case UnaryOp::log:
      return XOMNI_MAP_BACKWARD("log", gy * (T(1) / v));
    case UnaryOp::sqrt:
      return XOMNI_MAP_BACKWARD("sqrt", gy * (T(0.5) / v));
    case UnaryOp::rsqrt:
      return XOMNI_MAP_BACKWARD("rsqrt", gy * (T(-0.5) * v * v * v));
    case UnaryOp::tanh:
      return XOMNI_MAP_BACKWARD("tanh", gy * (T(1) - v * v));
    case UnaryOp::sigmoid:
      return XOMNI_MAP_BACKWARD("sigmoid", gy * (v * (T(1) - v)));
    case UnaryOp::silu:
      return XOMNI_MAP_BACKWARD("silu", gy * ((T(1) / (T(1) + fast_exp(-v))) *
                                              (T(1) + v * (T(1) - T(1) / (T(1) + fast_exp(-v))))));
    case UnaryOp::relu:
      return XOMNI_MAP_BACKWARD("relu", gy * (v > T(0) ? T(1) : T(0)));
    case UnaryOp::pow:
      return XOMNI_MAP_BACKWARD("pow", s0 == 0.0 ? T(0) : gy * T(s0) * std::pow(v, T(s0 - 1)));
    case UnaryOp::gelu:
      return XOMNI_MAP_BACKWARD("gelu", gelu_grad(gy, v));
    case UnaryOp::gelu_tanh:
      return XOMNI_MAP_BACKWARD("gelu_tanh", gelu_tanh_grad(gy, v));
    case UnaryOp::clamp:
      return XOMNI_MAP_BACKWARD("clamp", (v >= T(s0) && v <= T(s1)) ? gy : T(0));
    case UnaryOp::add_scalar:
    case UnaryOp::mul_scalar:
    case UnaryOp::neg:
      break;  // their gradients are ops on g, not kernels
  }
  throw Error("unary_backward: no fused backward kernel for this op");
}
#undef XOMNI_MAP_BACKWARD

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  switch (op) {
    case BinaryOp::add:
      return map_binary("add", a, b, [](auto x, auto y) { return x + y; });
    case BinaryOp::sub:
      return map_binary("sub", a, b, [](auto x, auto y) { return x - y; });
    case BinaryOp::mul:
      return map_binary("mul", a, b, [](auto x, auto y) { return x * y; });
    case BinaryOp::div:
      return map_binary("div", a, b, [](auto x, auto y) { return x / y; });
  }
  throw Error("binary: unknown op");
}

Tensor select(const char* name, const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_dtype(name, cond, {DType::u8});
  check_dtype(name, a, {DType::f32, DType::f64});
  check_same_dtype(name, a, b);
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), name), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype());
  const Shape sc = broadcast_strides(cond.shape(), cond.strides(), shape);
  const Shape sa = broadcast_strides(a.shape(), a.strides(), shape);
  const Shape sb = broadcast_strides(b.shape(), b.strides(), shape);
  const Shape so = out.strides();
  dispatch_float(name, a.dtype(), [&]<typename T>() {
    const uint8_t* c = static_cast<const uint8_t*>(cond.raw_data());
    const T* x = static_cast<const T*>(a.raw_data());
    const T* z = static_cast<const T*>(b.raw_data());
    T* y = out.data<T>();
    parallel_for(out.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for_each_run<4>(shape, {&so, &sc, &sa, &sb}, lo, hi, [&](const StridedRun<4>& r) {
        for (int64_t i = 0; i < r.length; ++i)
          y[r.offset[0] + i] = c[r.offset[1] + i * r.stride[1]] ? x[r.offset[2] + i * r.stride[2]]
                                                                : z[r.offset[3] + i * r.stride[3]];
      });
    });
  });
  return out;
}

}  // namespace xomni::cpu
