#pragma once
// Draws for the synthetic world: a Philox-4x32 stream keyed by (seed, stream, index), so sample
// `index` is the same whatever other samples are generated and in whatever order.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/tensor/random.h"

namespace xomni::world {

class PhiloxDraws {
 public:
  // `stream` separates generators that share a seed (text images, prompts, ...).
  PhiloxDraws(uint64_t seed, uint64_t stream, int64_t index)
      : key_(mix(seed ^ mix(stream + 0x9E3779B97F4A7C15ull))), counter_(uint64_t(index) << 24) {}

  uint32_t next() {
    if (pos_ == 4) {
      philox4x32(key_, counter_++, buf_);
      pos_ = 0;
    }
    return buf_[pos_++];
  }
  double unit() { return next() * (1.0 / 4294967296.0); }                      // [0, 1)
  int64_t below(int64_t n) { return int64_t(unit() * double(n)); }             // [0, n)
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }  // [lo, hi]
  bool chance(double p) { return unit() < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[size_t(below(int64_t(v.size())))];
  }

  // SplitMix64 finaliser: spreads nearby seeds over the key space.
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t key_;
  uint64_t counter_;
  uint32_t buf_[4] = {};
  int pos_ = 4;
};

}  // namespace xomni::world
