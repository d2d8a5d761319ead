// The conjugate communication operators of tensor parallelism, as autograd nodes.
#include "xomni/parallel/tensor_parallel.h"

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::parallel {
namespace {

bool single(const TensorParallel& tp) {
  return tp.size() == 1;
}

// All-reduce (sum) of a copy of x.
Tensor summed(const Tensor& x, const TensorParallel& tp) {
  Tensor out = x.contiguous().clone();
  tp.comm->all_reduce(out);
  return out;
}

// Moves `dim` to the front so the chunks a collective works on are contiguous: [.., S, ..] ->
// [S, ..] (a copy).
Tensor dim_to_front(const Tensor& x, int64_t dim) {
  std::vector<int64_t> order{dim};
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) order.push_back(d);
  return permute(x, order).contiguous();
}

// Inverse of dim_to_front for a tensor whose leading dimension is the sequence.
Tensor front_to_dim(const Tensor& x, int64_t dim) {
  std::vector<int64_t> order;
  for (int64_t d = 1; d <= dim; ++d) order.push_back(d);
  order.push_back(0);
  for (int64_t d = dim + 1; d < x.dim(); ++d) order.push_back(d);
  return permute(x, order).contiguous();
}

Tensor all_gather_along(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  Tensor front = dim_to_front(x, dim);
  Shape full = front.shape();
  full[0] *= tp.size();
  Tensor out = Tensor::empty(full, x.dtype());
  tp.comm->all_gather(front, out);
  return front_to_dim(out, dim);
}

Tensor reduce_scatter_along(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  XOMNI_CHECK(x.size(dim) % tp.size() == 0, "sequence parallelism: length ", x.size(dim),
              " of dimension ", dim, " is not divisible by tp=", tp.size());
  Tensor front = dim_to_front(x, dim);
  Shape part = front.shape();
  part[0] /= tp.size();
  Tensor out = Tensor::empty(part, x.dtype());
  tp.comm->reduce_scatter(front, out);
  return front_to_dim(out, dim);
}

Tensor own_chunk(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  XOMNI_CHECK(x.size(dim) % tp.size() == 0, "sequence parallelism: length ", x.size(dim),
              " of dimension ", dim, " is not divisible by tp=", tp.size());
  const int64_t n = x.size(dim) / tp.size();
  return slice(x, dim, tp.rank() * n, (tp.rank() + 1) * n).contiguous();
}

}  // namespace

Tensor copy_to_tp(const Tensor& x, const TensorParallel& tp) {
  if (single(tp)) return x;
  return record(x.detach(), "copy_to_tp", {x},
                [tp](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                  return {summed(g, tp)};
                });
}

Tensor reduce_from_tp(const Tensor& x, const TensorParallel& tp) {
  if (single(tp)) return x;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = summed(x, tp);
  }
  return record(
      out, "reduce_from_tp", {x},
      [](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> { return {g}; });
}

Tensor gather_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  if (single(tp)) return x;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = all_gather_along(x, dim, tp);
  }
  return record(out, "gather_sequence", {x},
                [tp, dim](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                  return {reduce_scatter_along(g, dim, tp)};
                });
}

Tensor reduce_scatter_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  if (single(tp)) return x;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = reduce_scatter_along(x, dim, tp);
  }
  return record(out, "reduce_scatter_sequence", {x},
                [tp, dim](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                  return {all_gather_along(g, dim, tp)};
                });
}

Tensor scatter_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp) {
  if (single(tp)) return x;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = own_chunk(x, dim, tp);
  }
  return record(out, "scatter_sequence", {x},
                [tp, dim](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                  return {all_gather_along(g, dim, tp)};
                });
}

}  // namespace xomni::parallel
