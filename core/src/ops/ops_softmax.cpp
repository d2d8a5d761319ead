// softmax and log_softmax over one dimension; rows along the last dimension are processed by a
// fused kernel (cpu/softmax.cpp), other dimensions are moved last by a (view) transpose.
#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

Tensor softmax_last(const Tensor& a, bool log_space) {
  const char* name = log_space ? "log_softmax" : "softmax";
  check_dtype(name, a, {DType::f32, DType::f64});
  const Tensor x = a.contiguous();
  Tensor out = kernels_for(x.device()).softmax(x, log_space);
  return record(
      out, name, {a}, [y = out.detach(), log_space](const Tensor& g, const std::vector<bool>&) {
        return Grads{kernels_for(y.device()).softmax_backward(g.contiguous(), y, log_space)};
      });
}

Tensor softmax_dim(const Tensor& a, int64_t dim, bool log_space) {
  const int64_t d = wrap_dim(dim, a.dim(), log_space ? "log_softmax" : "softmax");
  if (a.dim() == 0 || d == a.dim() - 1) return softmax_last(a, log_space);
  return transpose(softmax_last(transpose(a, d, -1), log_space), d, -1);
}
}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  return softmax_dim(a, dim, false);
}
Tensor log_softmax(const Tensor& a, int64_t dim) {
  return softmax_dim(a, dim, true);
}

}  // namespace xomni
