#include "xomni/core/tensor/tensor.h"

#include <cmath>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const int64_t nbytes = checked_nbytes(shape, dtype_size(dtype), "Tensor::empty");
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(size_t(nbytes), device);
  } catch (const Error& e) {  // say which tensor; callers add the key or file that asked for it
    throw Error(
        detail::concat("tensor ", dtype_name(dtype), " ", shape_str(shape), ": ", e.what()));
  }
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  kernels_for(device).zero(t);
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::i64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return dtype == DType::i64 ? t : t.to(dtype);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  XOMNI_CHECK(int64_t(values.size()) == shape_numel(shape), "Tensor::from_vector: ", values.size(),
              " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<bf16>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<f16>&, const Shape&);

int64_t Tensor::size(int64_t d) const {
  return shape()[wrap_dim(d, dim(), "Tensor::size")];
}
int64_t Tensor::stride(int64_t d) const {
  return strides()[wrap_dim(d, dim(), "Tensor::stride")];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to address, any strides will do
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  XOMNI_CHECK(device().is_cpu(), "raw_data: tensor is on ", device().str());
  return static_cast<char*>(impl().storage->data()) + offset() * int64_t(dtype_size(dtype()));
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = (dtype() == dtype_of<T>() ? *this : to(dtype_of<T>())).contiguous();
  const T* p = static_cast<const T*>(c.raw_data());
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<int32_t> Tensor::to_vector() const;
template std::vector<int64_t> Tensor::to_vector() const;
template std::vector<uint8_t> Tensor::to_vector() const;

double Tensor::item() const {
  XOMNI_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(),
              " elements, not 1");
  return to_vector<double>()[0];
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  kernels_for(device()).copy(out, *this);
  if (is_floating(dtype()))
    return record(out, "clone", {*this},
                  [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  kernels_for(device()).copy(out, *this);
  if (is_floating(dtype()) && is_floating(target)) {
    const DType src = dtype();
    return record(out, "to", {*this}, [src](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g.to(src)};
    });
  }
  return out;
}

bool Tensor::requires_grad() const {
  return impl().requires_grad || impl().grad_fn != nullptr;
}

Tensor& Tensor::set_requires_grad(bool on) {
  XOMNI_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked; use detach() first");
  XOMNI_CHECK(!on || is_floating(dtype()), "set_requires_grad: dtype ", dtype_name(dtype()),
              " cannot require gradients");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  return impl().grad ? Tensor(impl().grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() {
  impl().grad.reset();
}

void Tensor::retain_grad() {
  XOMNI_CHECK(requires_grad(), "retain_grad: tensor does not require grad");
  impl().retains_grad = true;
}

Tensor Tensor::detach() const {
  return make_view(*this, shape(), strides(), offset());
}

void Tensor::backward(const Tensor& grad) const {
  Tensor g = grad;
  if (!g.defined()) {
    XOMNI_CHECK(numel() == 1, "backward: a gradient is needed for a non-scalar output of shape ",
                shape_str(shape()));
    g = Tensor::ones(shape(), dtype());
  }
  run_backward({*this}, {g});
}

Tensor& Tensor::fill_(double value) {
  kernels_for(device()).fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  XOMNI_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), "copy_: source of shape ",
              shape_str(src.shape()), " does not broadcast to ", shape_str(shape()));
  // Copy through a temporary when the two views overlap in memory.
  Tensor s = same_storage(src) ? src.clone().detach() : src;
  kernels_for(device()).copy(*this, s);
  return *this;
}

void check_dtype(const char* op, const Tensor& t, std::initializer_list<DType> allowed) {
  XOMNI_CHECK(t.defined(), op, ": got an undefined tensor");
  for (DType d : allowed)
    if (d == t.dtype()) return;
  std::string names;
  for (DType d : allowed) names += std::string(names.empty() ? "" : "/") + dtype_name(d);
  throw Error(detail::concat(op, ": tensor of shape ", shape_str(t.shape()), " has dtype ",
                             dtype_name(t.dtype()), ", expected ", names));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  XOMNI_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch, ", dtype_name(a.dtype()), " ",
              shape_str(a.shape()), " vs ", dtype_name(b.dtype()), " ", shape_str(b.shape()));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  XOMNI_CHECK(a.device() == b.device(), op, ": device mismatch, ", a.device().str(), " ",
              shape_str(a.shape()), " vs ", b.device().str(), " ", shape_str(b.shape()));
}

}  // namespace xomni
