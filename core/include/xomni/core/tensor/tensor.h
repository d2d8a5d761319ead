#pragma once
// Tensor: a view (shape, strides, offset, dtype) over reference-counted storage, plus the
// autograd fields. Copying a Tensor copies the handle, never the data.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "xomni/core/tensor/device.h"
#include "xomni/core/tensor/dtype.h"
#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/shape.h"
#include "xomni/core/tensor/storage.h"

namespace xomni {

class Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;
  DType dtype = DType::f32;

  bool requires_grad = false;  // set on leaves; non-leaves require grad when grad_fn is set
  bool retains_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<TensorImpl> grad;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(double value, DType dtype = DType::f32) { return full({}, value, dtype); }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  bool same_storage(const Tensor& other) const { return impl().storage == other.impl().storage; }

  // ---- data access (CPU) ----
  void* raw_data() const;  // pointer to element 0 of the view
  template <typename T>
  T* data() const;
  template <typename T>
  std::vector<T> to_vector() const;  // logical order, converted to T
  double item() const;               // a one-element tensor's value as double

  // ---- copies and conversions (differentiable where the dtype allows) ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  Tensor grad() const;  // undefined Tensor when no gradient was accumulated
  void set_grad(const Tensor& g);
  void zero_grad();
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  void retain_grad();
  Tensor detach() const;  // same storage, no history
  // Backpropagates from this tensor; `grad` defaults to ones for a one-element tensor.
  void backward(const Tensor& grad = Tensor()) const;

  // ---- in-place (no autograd; for optimizers and initialisation) ----
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype

  TensorImpl& impl() const {
    XOMNI_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A view sharing `base`'s storage with new geometry; no autograd.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

// Throws a clear error unless `t` is defined and has one of the given dtypes (whether its device
// can run the op is the kernel table's answer: ops/kernels.h).
void check_dtype(const char* op, const Tensor& t, std::initializer_list<DType> allowed);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

// Calls fn.template operator()<T>() with T the C++ type of a floating compute dtype (f32, f64).
template <typename Fn>
decltype(auto) dispatch_float(const char* op, DType t, Fn&& fn) {
  switch (t) {
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    default:
      throw Error(
          detail::concat(op, ": dtype ", dtype_name(t),
                         " is not a CPU compute dtype (use f32 or f64; convert with .to())"));
  }
}
// Same for index dtypes (i32, i64).
template <typename Fn>
decltype(auto) dispatch_index(const char* op, DType t, Fn&& fn) {
  switch (t) {
    case DType::i32:
      return fn.template operator()<int32_t>();
    case DType::i64:
      return fn.template operator()<int64_t>();
    default:
      throw Error(detail::concat(op, ": index tensor must be i32 or i64, got ", dtype_name(t)));
  }
}

template <typename T>
T* Tensor::data() const {
  XOMNI_CHECK(dtype_of<T>() == dtype(), "Tensor::data: requested ", dtype_name(dtype_of<T>()),
              " but the tensor is ", dtype_name(dtype()));
  return static_cast<T*>(raw_data());
}

}  // namespace xomni
