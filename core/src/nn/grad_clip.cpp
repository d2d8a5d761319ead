// Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_ with the L2 norm).
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/nn/optim.h"
#include "xomni/core/nn/sum_squares.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {

namespace {

std::vector<Tensor> grads_of(const std::vector<NamedParam>& params) {
  std::vector<Tensor> out;
  for (const NamedParam& p : params) {
    Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    check_dtype(("clip_grad_norm: gradient of '" + p.name + "'").c_str(), g,
                {DType::f32, DType::f64});
    if (!g.is_contiguous()) {
      g = g.contiguous();
      Tensor(p.tensor).set_grad(g);  // a handle copy: same TensorImpl
    }
    out.push_back(g);
  }
  return out;
}

double norm_of(const std::vector<Tensor>& grads) {
  double total = 0.0;
  for (const Tensor& g : grads) total += sum_of_squares(g);
  return std::sqrt(total);
}

}  // namespace

double sum_of_squares(const Tensor& t) {
  check_dtype("sum_of_squares", t, {DType::f32, DType::f64});
  XOMNI_CHECK(t.is_contiguous(), "sum_of_squares: the tensor must be contiguous");
  return kernels_for(t.device()).sum_squares(t);
}

void scale_in_place(const Tensor& t, double factor) {
  check_dtype("scale_in_place", t, {DType::f32, DType::f64});
  XOMNI_CHECK(t.is_contiguous(), "scale_in_place: the tensor must be contiguous");
  kernels_for(t.device()).scale_(t, factor);
}

double grad_norm(const std::vector<NamedParam>& params) {
  return norm_of(grads_of(params));
}

double clip_grad_norm(const std::vector<NamedParam>& params, double max_norm) {
  XOMNI_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = grads_of(params);
  const double total = norm_of(grads);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    for (const Tensor& g : grads) scale_in_place(g, coef);
  }
  return total;
}

}  // namespace xomni
