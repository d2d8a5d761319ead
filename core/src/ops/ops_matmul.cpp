// matmul and linear: NumPy promotion, batch broadcasting and autograd; the GEMM kernels are in
// cpu/matmul.cpp.
#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const int64_t nd = std::max(a.dim(), b.dim());
  Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                 Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  auto widen = [&](const Tensor& t) {
    Shape s = batch;
    s.push_back(t.shape()[t.dim() - 2]);
    s.push_back(t.shape()[t.dim() - 1]);
    Tensor u = t;
    while (u.dim() < nd) u = unsqueeze(u.detach(), 0);
    return expand(u.detach(), s).detach();
  };
  return kernels_for(a.device()).matmul(widen(a), widen(b));
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_dtype("matmul", a, {DType::f32, DType::f64});
  check_same_dtype("matmul", a, b);
  check_same_device("matmul", a, b);
  XOMNI_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: 0-d operand, shapes ", shape_str(a.shape()),
              " and ", shape_str(b.shape()));
  // NumPy promotion of 1-d operands, undone on the output.
  if (a.dim() == 1 || b.dim() == 1) {
    Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
    Tensor b2 = b.dim() == 1 ? unsqueeze(b, -1) : b;
    Tensor r = matmul(a2, b2);
    if (b.dim() == 1) r = squeeze(r, -1);
    if (a.dim() == 1) r = squeeze(r, r.dim() == 1 ? 0 : -2);
    return r;
  }
  XOMNI_CHECK(a.shape().back() == b.shape()[b.dim() - 2], "matmul: shapes ", shape_str(a.shape()),
              " and ", shape_str(b.shape()), " cannot be multiplied (", a.shape().back(), " vs ",
              b.shape()[b.dim() - 2], ")");
  Tensor out = matmul_nd(a, b);
  return record(out, "matmul", {a, b}, [a, b](const Tensor& g, const std::vector<bool>& n) {
    Tensor ga, gb;
    if (n[0]) ga = sum_to(matmul(g, transpose(b, -1, -2)), a.shape());
    if (n[1]) {
      if (b.dim() == 2 && a.dim() > 2) {  // shared weight: one GEMM over all rows
        const int64_t k = a.shape().back(), nn = b.shape()[1];
        gb = matmul(transpose(reshape(a, {-1, k}), 0, 1), reshape(g, {-1, nn}));
      } else {
        gb = sum_to(matmul(transpose(a, -1, -2), g), b.shape());
      }
    }
    return Grads{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_dtype("linear", x, {DType::f32, DType::f64});
  check_same_dtype("linear", x, weight);
  XOMNI_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.shape().back() == weight.shape()[1],
              "linear: input of shape ", shape_str(x.shape()), " does not match weight of shape ",
              shape_str(weight.shape()), " (expected [out, in] with in = the input's last dim)");
  const int64_t in = weight.shape()[1], out_f = weight.shape()[0];
  if (bias.defined())
    XOMNI_CHECK(bias.dim() == 1 && bias.shape()[0] == out_f, "linear: bias of shape ",
                shape_str(bias.shape()), " does not match weight of shape ",
                shape_str(weight.shape()));
  const Tensor x2 = x.contiguous();
  const int64_t rows = x2.numel() / std::max<int64_t>(in, 1);
  Tensor out = kernels_for(x.device()).linear(x2, weight, bias);
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record(out, "linear", inputs,
                [x2, weight, has_bias = bias.defined(), in, out_f, rows, x_shape = x.shape()](
                    const Tensor& g_in, const std::vector<bool>& n) {
                  const Tensor g = reshape(g_in.contiguous(), {rows, out_f});
                  Grads grads(has_bias ? 3 : 2);
                  if (n[0]) grads[0] = reshape(matmul(g, weight), x_shape);
                  if (n[1]) grads[1] = matmul(transpose(g, 0, 1), reshape(x2, {rows, in}));
                  if (has_bias && n[2]) grads[2] = sum(g, {0});
                  return grads;
                });
}

}  // namespace xomni
