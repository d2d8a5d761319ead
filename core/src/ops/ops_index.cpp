// Index-driven lookups: gather, index_select and embedding; the kernels, with their scatter-add
// backwards, are in cpu/index.cpp.
#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

}  // namespace

Tensor gather(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  check_dtype("gather", a_in, {DType::f32, DType::f64});
  const int64_t d = wrap_dim(dim, a_in.dim(), "gather");
  XOMNI_CHECK(index_in.dim() == a_in.dim(), "gather: index of shape ", shape_str(index_in.shape()),
              " and input of shape ", shape_str(a_in.shape()), " differ in rank");
  for (int64_t i = 0; i < a_in.dim(); ++i)
    XOMNI_CHECK(i == d || index_in.shape()[i] == a_in.shape()[i], "gather: index of shape ",
                shape_str(index_in.shape()), " must match input ", shape_str(a_in.shape()),
                " outside dimension ", d);
  const Tensor a = a_in.contiguous(), index = index_in.contiguous();
  Tensor out = kernels_for(a.device()).gather(a, d, index);
  return record(out, "gather", {a_in},
                [index, d, in_shape = a_in.shape()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{kernels_for(g.device()).gather_backward(g, index, d, in_shape)};
                });
}

Tensor index_select(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  check_dtype("index_select", a_in, {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8});
  XOMNI_CHECK(index_in.dim() == 1, "index_select: index must be 1-d, got shape ",
              shape_str(index_in.shape()));
  const int64_t d = wrap_dim(dim, a_in.dim(), "index_select");
  const Tensor a = a_in.contiguous(), index = index_in.contiguous();
  Tensor out = kernels_for(a.device()).index_select(a, d, index);
  if (!is_floating(a.dtype())) return out;
  return record(
      out, "index_select", {a_in},
      [index, d, in_shape = a_in.shape()](const Tensor& g_in, const std::vector<bool>&) {
        return Grads{kernels_for(g_in.device()).index_select_backward(g_in, index, d, in_shape)};
      });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  check_dtype("embedding", weight, {DType::f32, DType::f64});
  XOMNI_CHECK(weight.dim() == 2, "embedding: weight must be [vocab, dim], got ",
              shape_str(weight.shape()));
  Tensor flat = reshape(ids.contiguous(), {ids.numel()});
  Tensor rows = index_select(weight, 0, flat);
  Shape shape = ids.shape();
  shape.push_back(weight.shape()[1]);
  return reshape(rows, shape);
}

}  // namespace xomni
