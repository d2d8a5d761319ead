// Reductions: sum, mean, var, max/argmax. Every sum runs in a fixed order, so results do not
// depend on the thread count.
#include <cmath>
#include <numeric>

#include "tensor/threading.h"
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

// Sums a contiguous [A, R, B] buffer over R into [A, B].
template <typename T>
void sum_middle(const T* x, T* y, int64_t A, int64_t R, int64_t B) {
  if (B == 1) {
    parallel_for(A, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t a = lo; a < hi; ++a) {
                     const T* row = x + a * R;
                     constexpr int kLanes = 16;
                     T lanes[kLanes] = {};
                     int64_t r = 0;
                     for (; r + kLanes <= R; r += kLanes)
#pragma omp simd
                       for (int l = 0; l < kLanes; ++l) lanes[l] += row[r + l];
                     T acc = 0;
                     for (; r < R; ++r) acc += row[r];
                     for (int l = 0; l < kLanes; ++l) acc += lanes[l];
                     y[a] = acc;
                   }
                 });
    return;
  }
  parallel_for(A * B, 4096, [&](int64_t lo, int64_t hi) {
    // [lo, hi) indexes the flattened [A, B] output; walk it in pieces that stay within one a.
    for (int64_t i = lo; i < hi;) {
      const int64_t a = i / B, b0 = i % B, b1 = std::min(B, b0 + (hi - i));
      T* out = y + a * B;
      for (int64_t b = b0; b < b1; ++b) out[b] = 0;
      for (int64_t r = 0; r < R; ++r) {
        const T* row = x + (a * R + r) * B;
#pragma omp simd
        for (int64_t b = b0; b < b1; ++b) out[b] += row[b];
      }
      i += b1 - b0;
    }
  });
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
  Tensor out = Tensor::empty(out_shape, a.dtype());
  dispatch_float("sum", a.dtype(),
                 [&]<typename T>() { sum_middle<T>(x.data<T>(), out.data<T>(), A, R, B); });
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
  int64_t A = 1, R = a.dim() ? a.shape()[d] : 1, B = 1;
  for (int64_t i = 0; i < a.dim(); ++i) {
    if (i < d) A *= a.shape()[i];
    if (i > d) B *= a.shape()[i];
  }
  Tensor out = Tensor::empty(reduced_shape(a.shape(), {d}, keepdim), DType::i64);
  int64_t* idx = out.data<int64_t>();
  dispatch_float("argmax", a.dtype(), [&]<typename T>() {
    const T* x = a.data<T>();
    parallel_for(A * B, 1024, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t oa = i / B, ob = i % B;
        const T* p = x + oa * R * B + ob;
        int64_t best = 0;
        T bv = p[0];
        for (int64_t r = 1; r < R; ++r) {
          const T v = p[r * B];
          if (std::isnan(bv)) break;  // NaN is the maximum, as in PyTorch
          if (v > bv || std::isnan(v)) bv = v, best = r;
        }
        idx[i] = best;
      }
    });
  });
  return out;
}

MaxResult max(const Tensor& a, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, a.dim(), "max");
  Tensor idx = argmax(a, d, true);
  Tensor values = gather(a, d, idx);
  if (!keepdim) return {squeeze(values, d), squeeze(idx, d)};
  return {values, idx};
}

}  // namespace xomni
