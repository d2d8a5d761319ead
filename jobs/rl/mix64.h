#pragma once
// SplitMix64's finaliser: a stateless, portable mix of a 64-bit value, for seeds derived from
// (seed, round, slot) and for the prompt pool's shuffles (std::shuffle's draws differ between
// standard libraries).
#include <cstdint>

namespace xomni::rl {

inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace xomni::rl
