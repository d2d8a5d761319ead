// Reductions: sum, mean, var, max/argmax; the kernels are in cpu/reduce.cpp.
#include <cmath>
#include <numeric>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

std::vector<int64_t> normalise_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    const char* op) {
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  XOMNI_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": repeated dimension");
  return out;
}

Shape reduced_shape(const Shape& in, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < int64_t(in.size()); ++d) {
    const bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced)
      out.push_back(in[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_dtype("sum", a, {DType::f32, DType::f64});
  const std::vector<int64_t> dims = normalise_dims(dims_in, a.dim(), "sum");
  const Shape out_shape = reduced_shape(a.shape(), dims, keepdim);
  Tensor x = a.detach();
  // Bring reduced dims into one contiguous block if they are not already.
  const bool block = dims.empty() || dims.back() - dims.front() + 1 == int64_t(dims.size());
  int64_t first = dims.empty() ? 0 : dims.front();
  if (!block) {
    std::vector<int64_t> order;
    for (int64_t d = 0; d < a.dim(); ++d)
      if (!std::binary_search(dims.begin(), dims.end(), d)) order.push_back(d);
    order.insert(order.end(), dims.begin(), dims.end());
    x = permute(x, order);
    first = a.dim() - int64_t(dims.size());
  }
  x = x.contiguous();
  int64_t A = 1, R = 1, B = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < first)
      A *= x.shape()[d];
    else if (d < first + int64_t(dims.size()))
      R *= x.shape()[d];
    else
      B *= x.shape()[d];
  }
  Tensor out = kernels_for(a.device()).sum(x, out_shape, A, R, B);
  return record(out, "sum", {a},
                [in_shape = a.shape(), dims, keepdim](const Tensor& g, const std::vector<bool>&) {
                  Tensor gk = keepdim ? g : reshape(g, reduced_shape(in_shape, dims, true));
                  return Grads{expand(gk, in_shape)};
                });
}

Tensor sum(const Tensor& a) {
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  return sum(a, dims, false);
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = normalise_dims(dims_in, a.dim(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= a.shape()[d];
  XOMNI_CHECK(n > 0, "mean: reducing over zero elements of shape ", shape_str(a.shape()));
  return mul(sum(a, dims, keepdim), 1.0 / double(n));
}

Tensor mean(const Tensor& a) {
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  return mean(a, dims, false);
}

Tensor var(const Tensor& a, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  const std::vector<int64_t> dims = normalise_dims(dims_in, a.dim(), "var");
  int64_t n = 1;
  for (int64_t d : dims) n *= a.shape()[d];
  XOMNI_CHECK(n - correction > 0, "var: ", n, " elements with correction ", correction);
  Tensor centred = sub(a, mean(a, dims, true));
  return mul(sum(mul(centred, centred), dims, keepdim), 1.0 / double(n - correction));
}

Tensor argmax(const Tensor& a_in, int64_t dim, bool keepdim) {
  check_dtype("argmax", a_in, {DType::f32, DType::f64});
  const int64_t d = wrap_dim(dim, a_in.dim(), "argmax");
  XOMNI_CHECK(a_in.dim() == 0 || a_in.shape()[d] > 0, "argmax: empty dimension ", d);
  const Tensor a = a_in.contiguous();
  return kernels_for(a.device()).argmax(a, d, reduced_shape(a.shape(), {d}, keepdim));
}

MaxResult max(const Tensor& a, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, a.dim(), "max");
  Tensor idx = argmax(a, d, true);
  Tensor values = gather(a, d, idx);
  if (!keepdim) return {squeeze(values, d), squeeze(idx, d)};
  return {values, idx};
}

}  // namespace xomni
