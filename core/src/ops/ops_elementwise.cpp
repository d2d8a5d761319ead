// Elementwise arithmetic and activations, each with a fused backward kernel.
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  return kernels_for(a.device()).binary(op, a, b);
}
Tensor unary(UnaryOp op, const Tensor& a, double s0 = 0, double s1 = 0) {
  return kernels_for(a.device()).unary(op, a, s0, s1);
}
Tensor unary_backward(UnaryOp op, const Tensor& g, const Tensor& saved, double s0 = 0,
                      double s1 = 0) {
  return kernels_for(g.device()).unary_backward(op, g, saved, s0, s1);
}

// A unary op whose gradient is its fused backward kernel applied to g and the saved input or
// output.
Tensor unary_with_backward(const char* name, UnaryOp op, const Tensor& a, double s0 = 0,
                           double s1 = 0) {
  Tensor out = unary(op, a, s0, s1);
  const Tensor saved = unary_backward_uses_output(op) ? out.detach() : a;
  return record(out, name, {a}, [op, saved, s0, s1](const Tensor& g, const std::vector<bool>&) {
    return Grads{unary_backward(op, g, saved, s0, s1)};
  });
}

Tensor select(const char* name, const Tensor& cond, const Tensor& a, const Tensor& b) {
  return kernels_for(a.device()).select(name, cond, a, b);
}
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
  Tensor out = binary(BinaryOp::add, a, b);
  return record(out, "add", {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
                  return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::sub, a, b);
  return record(
      out, "sub", {a, b},
      [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
        return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(neg(g), sb) : Tensor()};
      });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::mul, a, b);
  return record(out, "mul", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& n) {
    return Grads{n[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                 n[1] ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary(BinaryOp::div, a, b);
  return record(out, "div", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& n) {
    Tensor ga, gb;
    if (n[0]) ga = sum_to(div(g, b), a.shape());
    if (n[1]) gb = sum_to(neg(div(mul(g, a), mul(b, b))), b.shape());
    return Grads{ga, gb};
  });
}

Tensor add(const Tensor& a, double s) {
  Tensor out = unary(UnaryOp::add_scalar, a, s);
  return record(out, "add_scalar", {a},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = unary(UnaryOp::mul_scalar, a, s);
  return record(out, "mul_scalar", {a},
                [s](const Tensor& g, const std::vector<bool>&) { return Grads{mul(g, s)}; });
}

Tensor neg(const Tensor& a) {
  Tensor out = unary(UnaryOp::neg, a);
  return record(out, "neg", {a},
                [](const Tensor& g, const std::vector<bool>&) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& a) {
  return unary_with_backward("exp", UnaryOp::exp, a);
}
Tensor log(const Tensor& a) {
  return unary_with_backward("log", UnaryOp::log, a);
}
Tensor sqrt(const Tensor& a) {
  return unary_with_backward("sqrt", UnaryOp::sqrt, a);
}
Tensor rsqrt(const Tensor& a) {
  return unary_with_backward("rsqrt", UnaryOp::rsqrt, a);
}
Tensor tanh(const Tensor& a) {
  return unary_with_backward("tanh", UnaryOp::tanh, a);
}
Tensor sigmoid(const Tensor& a) {
  return unary_with_backward("sigmoid", UnaryOp::sigmoid, a);
}
Tensor silu(const Tensor& a) {
  return unary_with_backward("silu", UnaryOp::silu, a);
}
Tensor relu(const Tensor& a) {
  return unary_with_backward("relu", UnaryOp::relu, a);
}
Tensor pow(const Tensor& a, double p) {
  return unary_with_backward("pow", UnaryOp::pow, a, p);
}

Tensor gelu(const Tensor& a, GeluApprox approx) {
  if (approx == GeluApprox::none) return unary_with_backward("gelu", UnaryOp::gelu, a);
  return unary_with_backward("gelu_tanh", UnaryOp::gelu_tanh, a);
}

// Gradient passes where the input lies inside [lo, hi] (PyTorch's convention at the bounds).
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  XOMNI_CHECK(l <= h, "clamp: min ", l, " is greater than max ", h);
  return unary_with_backward("clamp", UnaryOp::clamp, a, l, h);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = select("where", cond, a, b);
  return record(out, "where", {a, b}, [cond, a, b](const Tensor& g, const std::vector<bool>& n) {
    Tensor zero = Tensor::zeros({}, g.dtype(), g.device());
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
    return Grads{select("masked_fill_backward", mask, Tensor::zeros({}, g.dtype(), g.device()), g)};
  });
}

Tensor swiglu(const Tensor& gate_in, const Tensor& up_in) {
  constexpr const char* op = "swiglu";
  check_dtype(op, gate_in, {DType::f32, DType::f64});
  check_same_dtype(op, gate_in, up_in);
  check_same_device(op, gate_in, up_in);
  XOMNI_CHECK(gate_in.shape() == up_in.shape(), op, ": gate ", shape_str(gate_in.shape()),
              " and up ", shape_str(up_in.shape()), " must have one shape");
  const Tensor gate = gate_in.contiguous(), up = up_in.contiguous();
  const Tensor out = kernels_for(gate.device()).swiglu(gate, up);
  auto backward = [gate, up](const Tensor& g, const std::vector<bool>& need) {
    std::vector<Tensor> in = kernels_for(gate.device()).swiglu_backward(gate, up, g.contiguous());
    if (!need[0]) in[0] = Tensor();
    if (!need[1]) in[1] = Tensor();
    return in;
  };
  return record(out, op, {gate_in, up_in}, backward);
}

}  // namespace xomni
