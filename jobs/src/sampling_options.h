#pragma once
// The sampling flags shared by xomni generate, imagine and ask, checked before any model loads.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/ops/sampling.h"

namespace xomni::cli {

struct SamplingFlags {
  SamplingOptions sampling;
  double cfg = 1.0;  // classifier-free guidance scale; 1 is off
  uint64_t seed = 0;
};

// Takes --temperature T (>= 0, 0 greedy), --top-k K (>= 0, 0 off), --top-p P ((0, 1], 1 off),
// --min-p M ([0, 1], 0 off), --seed S and, when `with_cfg`, --cfg G (finite, 1 off) from args;
// absent flags keep `defaults`.
SamplingFlags take_sampling_flags(std::vector<std::string>& args, const SamplingFlags& defaults,
                                  bool with_cfg);

// A non-negative 64-bit seed; `fallback` when empty.
uint64_t parse_seed(const std::string& text, uint64_t fallback = 0);

}  // namespace xomni::cli
