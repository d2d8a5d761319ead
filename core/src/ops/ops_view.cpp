// Shape and view operations. Views share storage with their input; cat/stack copy.
#include <numeric>

#include "tensor/threading.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {
using Grads = std::vector<Tensor>;

Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      XOMNI_CHECK(infer < 0, op, ": more than one -1 in ", shape_str(requested));
      infer = int64_t(i);
    } else {
      XOMNI_CHECK(s[i] >= 0, op, ": invalid size in ", shape_str(requested));
      known = checked_mul(known, s[i], std::string(op) + ": the sizes of " + shape_str(requested));
    }
  }
  if (infer >= 0) {
    XOMNI_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", shape_str(from), " to ",
                shape_str(requested));
    s[infer] = numel / known;
  }
  XOMNI_CHECK(shape_numel(s) == numel, op, ": cannot reshape ", shape_str(from), " (", numel,
              " elements) to ", shape_str(requested));
  return s;
}

// Strides that let `t`'s elements be seen with `shape` without a copy, or empty if impossible.
// Groups of old dimensions that are mutually contiguous may be split or merged freely.
Shape view_strides(const Tensor& t, const Shape& shape) {
  if (t.numel() == 0 || t.is_contiguous()) return contiguous_strides(shape);
  const Shape& os = t.shape();
  const Shape& ost = t.strides();
  Shape ns(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base = ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return ns;
}

Tensor view_impl(const Tensor& a, const Shape& shape, const char* op, bool allow_copy) {
  const Shape target = infer_shape(shape, a.numel(), op, a.shape());
  Shape st = view_strides(a, target);
  Tensor out;
  if (!st.empty() || target.empty()) {
    out = make_view(a, target, st.empty() ? Shape{} : st, a.offset());
  } else {
    XOMNI_CHECK(allow_copy, op, ": a tensor of shape ", shape_str(a.shape()), " with strides ",
                shape_str(a.strides()), " cannot be viewed as ", shape_str(target),
                "; use reshape");
    Tensor c = a.detach().contiguous();
    out = make_view(c, target, contiguous_strides(target), c.offset());
  }
  return record(out, op, {a}, [in_shape = a.shape()](const Tensor& g, const std::vector<bool>&) {
    return Grads{reshape(g, in_shape)};
  });
}
}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) {
  return view_impl(a, shape, "reshape", true);
}
Tensor view(const Tensor& a, const Shape& shape) {
  return view_impl(a, shape, "view", false);
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  XOMNI_CHECK(int64_t(dims.size()) == a.dim(), "permute: ", dims.size(), " dims given for a ",
              a.dim(), "-d tensor of shape ", shape_str(a.shape()));
  Shape shape(dims.size()), strides(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], a.dim(), "permute");
    XOMNI_CHECK(inverse[d] < 0, "permute: dimension ", d, " repeated");
    inverse[d] = int64_t(i);
    shape[i] = a.shape()[d];
    strides[i] = a.strides()[d];
  }
  Tensor out = make_view(a, shape, strides, a.offset());
  return record(out, "permute", {a}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return Grads{permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  std::vector<int64_t> dims(a.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, a.dim(), "transpose")], dims[wrap_dim(d1, a.dim(), "transpose")]);
  return permute(a, dims);
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int64_t d = wrap_dim(dim, a.dim(), "slice");
  const int64_t n = a.shape()[d];
  XOMNI_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = a.shape(), strides = a.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor out = make_view(a, shape, strides, a.offset() + start * a.strides()[d]);
  return record(out, "slice", {a},
                [in_shape = a.shape(), dtype = a.dtype(), d, start, end, step](
                    const Tensor& g, const std::vector<bool>&) {
                  Tensor gi = Tensor::zeros(in_shape, dtype);
                  slice(gi, d, start, end, step).copy_(g);
                  return Grads{gi};
                });
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape shape = a.shape();
  shape.insert(shape.begin() + d, 1);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim(), "squeeze");
  XOMNI_CHECK(a.shape()[d] == 1, "squeeze: dimension ", d, " of shape ", shape_str(a.shape()),
              " is not 1");
  Shape shape = a.shape();
  shape.erase(shape.begin() + d);
  return reshape(a, shape);
}

Tensor expand(const Tensor& a, const Shape& shape) {
  const Shape out_shape = broadcast_shapes(a.shape(), shape, "expand");
  XOMNI_CHECK(out_shape == shape, "expand: cannot expand ", shape_str(a.shape()), " to ",
              shape_str(shape));
  Shape strides(shape.size(), 0);
  const size_t off = shape.size() - a.shape().size();
  for (size_t i = 0; i < a.shape().size(); ++i)
    strides[off + i] = a.shape()[i] == shape[off + i] ? a.strides()[i] : 0;
  Tensor out = make_view(a, shape, strides, a.offset());
  return record(out, "expand", {a},
                [in_shape = a.shape()](const Tensor& g, const std::vector<bool>&) {
                  return Grads{sum_to(g, in_shape)};
                });
}

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) return reshape(a, {1});
  const int64_t s = wrap_dim(start_dim, a.dim(), "flatten");
  const int64_t e = wrap_dim(end_dim, a.dim(), "flatten");
  Shape shape(a.shape().begin(), a.shape().begin() + s);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= a.shape()[i];
  shape.push_back(m);
  shape.insert(shape.end(), a.shape().begin() + e + 1, a.shape().end());
  return reshape(a, shape);
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  XOMNI_CHECK(!ts.empty(), "cat: no tensors given");
  const int64_t d = wrap_dim(dim, ts[0].dim(), "cat");
  Shape shape = ts[0].shape();
  shape[d] = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : ts) {
    check_same_dtype("cat", ts[0], t);
    check_same_device("cat", ts[0], t);
    XOMNI_CHECK(t.dim() == ts[0].dim(), "cat: tensors of shapes ", shape_str(ts[0].shape()),
                " and ", shape_str(t.shape()), " differ in rank");
    for (int64_t i = 0; i < t.dim(); ++i)
      XOMNI_CHECK(i == d || t.shape()[i] == ts[0].shape()[i], "cat: shapes ",
                  shape_str(ts[0].shape()), " and ", shape_str(t.shape()),
                  " differ outside dimension ", d);
    sizes.push_back(t.shape()[d]);
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(shape, ts[0].dtype());
  int64_t pos = 0;
  for (const Tensor& t : ts) {
    slice(out, d, pos, pos + t.shape()[d]).copy_(t);
    pos += t.shape()[d];
  }
  if (!is_floating(out.dtype())) return out;
  return record(out, "cat", ts, [sizes, d](const Tensor& g, const std::vector<bool>&) {
    return split(g, sizes, d);
  });
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  XOMNI_CHECK(!ts.empty(), "stack: no tensors given");
  const int64_t d = wrap_dim(dim, ts[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& t : ts) {
    XOMNI_CHECK(t.shape() == ts[0].shape(), "stack: shapes ", shape_str(ts[0].shape()), " and ",
                shape_str(t.shape()), " differ");
    parts.push_back(unsqueeze(t, d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  XOMNI_CHECK(total == a.shape()[d], "split: sizes sum to ", total, " but dimension ", d,
              " of shape ", shape_str(a.shape()), " is ", a.shape()[d]);
  std::vector<Tensor> out;
  int64_t pos = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(a, d, pos, pos + s));
    pos += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim) {
  XOMNI_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  const int64_t n = a.shape()[wrap_dim(dim, a.dim(), "split")];
  std::vector<int64_t> sizes;
  for (int64_t pos = 0; pos < n; pos += split_size) sizes.push_back(std::min(split_size, n - pos));
  return split(a, sizes, dim);
}

}  // namespace xomni
