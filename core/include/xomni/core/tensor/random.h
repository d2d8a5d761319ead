#pragma once
// Counter-based random numbers (Philox-4x32-10): the stream is a pure function of (seed,
// offset), so results do not depend on thread count and the state saves as two integers.
#include <cstdint>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves n counters and returns the first; each counter yields 4 uint32 values.
  uint64_t reserve(uint64_t n) {
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

void philox4x32(uint64_t seed, uint64_t counter, uint32_t out[4]);

Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32);   // U[0, 1)
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32);  // N(0, 1)
// The box [offset, offset + box) of what randn(global_shape, gen, dtype) would return, drawing
// only that box's values (the generator advances as for the whole tensor). Tensor-parallel ranks
// use it to initialise their shard exactly as one process initialises the whole weight.
Tensor randn_box(const Shape& global_shape, const Shape& offset, const Shape& box, Generator& gen,
                 DType dtype = DType::f32);

}  // namespace xomni
