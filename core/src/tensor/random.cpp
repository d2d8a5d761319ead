#include "xomni/core/tensor/random.h"

#include <cmath>

#include "tensor/threading.h"

namespace xomni {

void philox4x32(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c[4] = {uint32_t(counter), uint32_t(counter >> 32), 0u, 0u};
  uint32_t k[2] = {uint32_t(seed), uint32_t(seed >> 32)};
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kM0) * c[0], p1 = uint64_t(kM1) * c[2];
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k[0];
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = uint32_t(p1);
    c[2] = n2;
    c[3] = uint32_t(p0);
    k[0] += kW0;
    k[1] += kW1;
  }
  for (int i = 0; i < 4; ++i) out[i] = c[i];
}

namespace {
// 24 random bits -> float in [0, 1); 53 bits -> double.
inline double unit_double(uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

template <typename Fill>
Tensor generate(const Shape& shape, Generator& gen, DType dtype, const char* op, Fill fill) {
  check_dtype(op, Tensor::empty({0}, dtype), {DType::f32, DType::f64});
  Tensor out = Tensor::empty(shape, dtype);
  const int64_t n = out.numel();
  const int64_t blocks = (n + 1) / 2;  // each counter gives 2 values (4 words)
  const uint64_t base = gen.reserve(uint64_t(blocks));
  dispatch_float(op, dtype, [&]<typename T>() {
    T* p = out.data<T>();
    parallel_for(blocks, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        uint32_t w[4];
        philox4x32(gen.seed(), base + uint64_t(b), w);
        double v[2];
        fill(unit_double(w[0], w[1]), unit_double(w[2], w[3]), v);
        for (int j = 0; j < 2 && 2 * b + j < n; ++j) p[2 * b + j] = T(v[j]);
      }
    });
  });
  return out;
}
}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  return generate(shape, gen, dtype, "rand", [](double u0, double u1, double* v) {
    v[0] = u0;
    v[1] = u1;
  });
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  // Box-Muller: two uniforms -> two independent normals.
  return generate(shape, gen, dtype, "randn", [](double u0, double u1, double* v) {
    const double r = std::sqrt(-2.0 * std::log(1.0 - u0));
    const double th = 2.0 * M_PI * u1;
    v[0] = r * std::cos(th);
    v[1] = r * std::sin(th);
  });
}

}  // namespace xomni

namespace xomni {

Tensor randn_box(const Shape& global_shape, const Shape& offset, const Shape& box, Generator& gen,
                 DType dtype) {
  check_dtype("randn_box", Tensor::empty({0}, dtype), {DType::f32, DType::f64});
  const size_t nd = global_shape.size();
  XOMNI_CHECK(offset.size() == nd && box.size() == nd, "randn_box: offset ", shape_str(offset),
              " and box ", shape_str(box), " must have the rank of ", shape_str(global_shape));
  for (size_t d = 0; d < nd; ++d)
    XOMNI_CHECK(offset[d] >= 0 && box[d] >= 0 && offset[d] + box[d] <= global_shape[d],
                "randn_box: box ", shape_str(box), " at ", shape_str(offset), " exceeds ",
                shape_str(global_shape));
  const int64_t n = shape_numel(global_shape);
  const uint64_t base = gen.reserve(uint64_t((n + 1) / 2));  // as randn(global_shape)
  Tensor out = Tensor::empty(box, dtype);
  const int64_t count = out.numel();
  const uint64_t seed = gen.seed();
  dispatch_float("randn_box", dtype, [&]<typename T>() {
    T* p = out.data<T>();
    parallel_for(count, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        // Global row-major index of the box's element i.
        int64_t rem = i, g = 0, stride = 1;
        for (size_t d = nd; d-- > 0;) {
          const int64_t c = rem % box[d];
          rem /= box[d];
          g += (offset[d] + c) * stride;
          stride *= global_shape[d];
        }
        uint32_t w[4];
        philox4x32(seed, base + uint64_t(g / 2), w);
        const double u0 = unit_double(w[0], w[1]), u1 = unit_double(w[2], w[3]);
        const double r = std::sqrt(-2.0 * std::log(1.0 - u0)), th = 2.0 * M_PI * u1;
        p[i] = T(g % 2 == 0 ? r * std::cos(th) : r * std::sin(th));
      }
    });
  });
  return out;
}

}  // namespace xomni
