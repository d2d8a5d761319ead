// Elementwise arithmetic and activations, each with a fused backward kernel.
#include <cmath>

#include "ops/elementwise.h"
#include "ops/vec_math.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
}  // namespace

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const int64_t lead = t.dim() - int64_t(shape.size());
  XOMNI_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(t.shape()), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && t.shape()[d] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? t : sum(t, dims, /*keepdim=*/true);
  return reshape(r, shape);
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary("add", a, b, [](auto x, auto y) { return x + y; });
  return record(out, "add", {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
                  return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary("sub", a, b, [](auto x, auto y) { return x - y; });
  return record(
      out, "sub", {a, b},
      [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
        return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(neg(g), sb) : Tensor()};
      });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary("mul", a, b, [](auto x, auto y) { return x * y; });
  return record(out, "mul", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& n) {
    return Grads{n[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                 n[1] ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary("div", a, b, [](auto x, auto y) { return x / y; });
  return record(out, "div", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& n) {
    Tensor ga, gb;
    if (n[0]) ga = sum_to(div(g, b), a.shape());
    if (n[1]) gb = sum_to(neg(div(mul(g, a), mul(b, b))), b.shape());
    return Grads{ga, gb};
  });
}

Tensor add(const Tensor& a, double s) {
  Tensor out = map_unary("add", a, [s](auto x) { return x + decltype(x)(s); });
  return record(out, "add_scalar", {a},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = map_unary("mul", a, [s](auto x) { return x * decltype(x)(s); });
  return record(out, "mul_scalar", {a},
                [s](const Tensor& g, const std::vector<bool>&) { return Grads{mul(g, s)}; });
}

Tensor neg(const Tensor& a) {
  Tensor out = map_unary("neg", a, [](auto x) { return -x; });
  return record(out, "neg", {a},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{neg(g)}; });
}

// Unary ops whose derivative is a function of the input x: grad_in = g * d(x).
#define XOMNI_UNARY_FROM_INPUT(NAME, FWD, DERIV)                                    \
  Tensor NAME(const Tensor& a) {                                                    \
    Tensor out = map_unary(#NAME, a, [](auto x) {                                   \
      using T = decltype(x);                                                        \
      (void)sizeof(T);                                                              \
      return FWD;                                                                   \
    });                                                                             \
    return record(out, #NAME, {a}, [a](const Tensor& g, const std::vector<bool>&) { \
      return Grads{map_binary(#NAME "_backward", g, a, [](auto gy, auto x) {        \
        using T = decltype(x);                                                      \
        (void)sizeof(T);                                                            \
        return gy * (DERIV);                                                        \
      })};                                                                          \
    });                                                                             \
  }

// Unary ops whose derivative is cheaper from the output y: grad_in = g * d(y).
#define XOMNI_UNARY_FROM_OUTPUT(NAME, FWD, DERIV)                                           \
  Tensor NAME(const Tensor& a) {                                                            \
    Tensor out = map_unary(#NAME, a, [](auto x) {                                           \
      using T = decltype(x);                                                                \
      (void)sizeof(T);                                                                      \
      return FWD;                                                                           \
    });                                                                                     \
    return record(out, #NAME, {a},                                                          \
                  [y0 = out.detach()](const Tensor& g, const std::vector<bool>&) {          \
                    return Grads{map_binary(#NAME "_backward", g, y0, [](auto gy, auto y) { \
                      using T = decltype(y);                                                \
                      (void)sizeof(T);                                                      \
                      return gy * (DERIV);                                                  \
                    })};                                                                    \
                  });                                                                       \
  }

XOMNI_UNARY_FROM_OUTPUT(exp, fast_exp(x), y)
XOMNI_UNARY_FROM_INPUT(log, std::log(x), T(1) / x)
XOMNI_UNARY_FROM_OUTPUT(sqrt, std::sqrt(x), T(0.5) / y)
XOMNI_UNARY_FROM_OUTPUT(rsqrt, T(1) / std::sqrt(x), T(-0.5) * y * y * y)
XOMNI_UNARY_FROM_OUTPUT(tanh, fast_tanh(x), T(1) - y * y)
XOMNI_UNARY_FROM_OUTPUT(sigmoid, T(1) / (T(1) + fast_exp(-x)), y*(T(1) - y))
XOMNI_UNARY_FROM_INPUT(silu, x / (T(1) + fast_exp(-x)),
                       (T(1) / (T(1) + fast_exp(-x))) *
                           (T(1) + x * (T(1) - T(1) / (T(1) + fast_exp(-x)))))
XOMNI_UNARY_FROM_INPUT(relu, x > T(0) ? x : T(0), x > T(0) ? T(1) : T(0))

#undef XOMNI_UNARY_FROM_INPUT
#undef XOMNI_UNARY_FROM_OUTPUT

Tensor pow(const Tensor& a, double p) {
  Tensor out = map_unary("pow", a, [p](auto x) { return std::pow(x, decltype(x)(p)); });
  return record(out, "pow", {a}, [a, p](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("pow_backward", g, a, [p](auto gy, auto x) {
      using T = decltype(x);
      return p == 0.0 ? T(0) : gy * T(p) * std::pow(x, T(p - 1));
    })};
  });
}

Tensor gelu(const Tensor& a, GeluApprox approx) {
  if (approx == GeluApprox::none) {
    Tensor out = map_unary("gelu", a, [](auto x) {
      using T = decltype(x);
      return T(0.5) * x * (T(1) + fast_erf(x * T(kInvSqrt2)));
    });
    return record(out, "gelu", {a}, [a](const Tensor& g, const std::vector<bool>&) {
      return Grads{map_binary("gelu_backward", g, a, [](auto gy, auto x) {
        using T = decltype(x);
        const T cdf = T(0.5) * (T(1) + fast_erf(x * T(kInvSqrt2)));
        const T pdf = T(kInvSqrt2Pi) * fast_exp(T(-0.5) * x * x);
        return gy * (cdf + x * pdf);
      })};
    });
  }
  Tensor out = map_unary("gelu_tanh", a, [](auto x) {
    using T = decltype(x);
    return T(0.5) * x * (T(1) + fast_tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
  });
  return record(out, "gelu_tanh", {a}, [a](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("gelu_tanh_backward", g, a, [](auto gy, auto x) {
      using T = decltype(x);
      const T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      const T t = fast_tanh(inner);
      const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
      return gy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
    })};
  });
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  XOMNI_CHECK(l <= h, "clamp: min ", l, " is greater than max ", h);
  Tensor out = map_unary("clamp", a, [l, h](auto x) {
    using T = decltype(x);
    return x < T(l) ? T(l) : (x > T(h) ? T(h) : x);
  });
  // Gradient passes where the input lies inside [lo, hi] (PyTorch's convention at the bounds).
  return record(out, "clamp", {a}, [a, l, h](const Tensor& g, const std::vector<bool>&) {
    return Grads{map_binary("clamp_backward", g, a, [l, h](auto gy, auto x) {
      using T = decltype(x);
      return (x >= T(l) && x <= T(h)) ? gy : T(0);
    })};
  });
}

namespace {
// out[i] = cond[i] ? a[i] : b[i] over the broadcast of all three shapes.
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
}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = select("where", cond, a, b);
  return record(out, "where", {a, b}, [cond, a, b](const Tensor& g, const std::vector<bool>& n) {
    Tensor zero = Tensor::zeros({}, g.dtype());
    Tensor ga, gb;
    if (n[0]) ga = sum_to(select("where_backward", cond, g, zero), a.shape());
    if (n[1]) gb = sum_to(select("where_backward", cond, zero, g), b.shape());
    return Grads{ga, gb};
  });
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  Tensor fill = Tensor::full({}, value, a.dtype());
  Tensor out = select("masked_fill", mask, fill, a);
  XOMNI_CHECK(out.shape() == a.shape(), "masked_fill: mask of shape ", shape_str(mask.shape()),
              " does not broadcast to the input shape ", shape_str(a.shape()));
  return record(out, "masked_fill", {a}, [mask](const Tensor& g, const std::vector<bool>&) {
    return Grads{select("masked_fill_backward", mask, Tensor::zeros({}, g.dtype()), g)};
  });
}

}  // namespace xomni
