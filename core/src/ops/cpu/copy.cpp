// CPU copies and fills: dtype conversion over arbitrary strides (contiguous, clone, to, copy_),
// fill_ and the zeroing of fresh tensors.
#include <cstring>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/strided.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, bf16>) {
    return convert<To>(bf16_to_float(v));
  } else if constexpr (std::is_same_v<From, f16>) {
    return convert<To>(f16_to_float(v));
  } else if constexpr (std::is_same_v<To, bf16>) {
    return float_to_bf16(float(v));
  } else if constexpr (std::is_same_v<To, f16>) {
    return float_to_f16(float(v));
  } else {
    return static_cast<To>(v);
  }
}

template <typename Fn>
decltype(auto) dispatch_all(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    case DType::bf16:
      return fn.template operator()<bf16>();
    case DType::f16:
      return fn.template operator()<f16>();
    case DType::i32:
      return fn.template operator()<int32_t>();
    case DType::i64:
      return fn.template operator()<int64_t>();
    case DType::u8:
      return fn.template operator()<uint8_t>();
  }
  throw Error("unknown dtype");
}

// dst[i] = convert(src[i]) over dst's shape, src broadcast to it.
void strided_copy(const Tensor& dst, const Tensor& src) {
  const Shape& shape = dst.shape();
  const Shape sst = broadcast_strides(src.shape(), src.strides(), shape);
  dispatch_all(dst.dtype(), [&]<typename D>() {
    dispatch_all(src.dtype(), [&]<typename S>() {
      D* d = static_cast<D*>(dst.raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      parallel_for(dst.numel(), 1 << 16, [&](int64_t b, int64_t e) {
        for_each_run<2>(shape, {&dst.strides(), &sst}, b, e, [&](const StridedRun<2>& r) {
          D* dp = d + r.offset[0];
          const S* sp = s + r.offset[1];
          if (r.stride[0] == 1 && r.stride[1] == 1) {
            for (int64_t i = 0; i < r.length; ++i) dp[i] = convert<D>(sp[i]);
          } else {
            for (int64_t i = 0; i < r.length; ++i)
              dp[i * r.stride[0]] = convert<D>(sp[i * r.stride[1]]);
          }
        });
      });
    });
  });
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  strided_copy(dst, src);
}

void fill(const Tensor& t, double value) {
  dispatch_all(t.dtype(), [&]<typename T>() {
    const T v = convert<T>(value);
    T* p = static_cast<T*>(t.raw_data());
    if (t.is_contiguous()) {
      parallel_for(t.numel(), 1 << 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = v;
      });
    } else {
      Shape st = t.strides();
      for_each_run<1>(t.shape(), {&st}, 0, t.numel(), [&](const StridedRun<1>& r) {
        for (int64_t i = 0; i < r.length; ++i) p[r.offset[0] + i * r.stride[0]] = v;
      });
    }
  });
}

void zero(const Tensor& t) {
  char* p = static_cast<char*>(t.raw_data());
  const int64_t esz = int64_t(dtype_size(t.dtype()));
  parallel_for(t.numel(), 1 << 16,
               [&](int64_t b, int64_t e) { std::memset(p + b * esz, 0, size_t((e - b) * esz)); });
}

}  // namespace xomni::cpu
