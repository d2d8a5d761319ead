#pragma once
// Learning-rate schedules: an optional linear warmup followed by constant, cosine, linear or
// warmup-stable-decay (WSD).
#include <cstdint>
#include <string>

namespace xomni {

enum class LrDecay { constant, cosine, linear, wsd };
enum class WsdShape { linear, cosine };

// Parses "constant", "cosine", "linear", "wsd" (and "linear"/"cosine" for WSD shapes); an
// unknown name is an Error that lists the valid ones.
LrDecay parse_lr_decay(const std::string& name);
WsdShape parse_wsd_shape(const std::string& name);

struct LrScheduleOptions {
  LrDecay decay = LrDecay::constant;
  double lr = 1e-3;             // peak learning rate
  double min_lr = 0.0;          // floor reached at total_steps (cosine, linear, wsd)
  int64_t warmup_steps = 0;     // linear warmup, combinable with every decay
  int64_t total_steps = 0;      // needed by cosine, linear and wsd
  double decay_fraction = 0.1;  // wsd: the decay phase is the last fraction of total_steps
  WsdShape wsd_shape = WsdShape::linear;
};

// `step` counts optimizer updates already taken (0 for the first update). With W warmup steps,
// T total steps, peak L and floor m:
//   warmup  (step < W):   L * (step + 1) / W   (the first update already moves; L at step W-1)
//   constant:             L
//   cosine:               m + (L - m) * (1 + cos(pi * p)) / 2,  p = (step - W) / (T - W)
//   linear:               m + (L - m) * (1 - p)                  (m = 0: linear to zero)
//   wsd:                  L until step S = T - D, D = round(decay_fraction * T), then
//                         m + (L - m) * f(q), q = (step - S) / D, f(q) = 1 - q (linear) or
//                         (1 + cos(pi q)) / 2 (cosine)
// and p, q clamped to [0, 1], so every step >= T gives m.
class LrSchedule {
 public:
  explicit LrSchedule(LrScheduleOptions options);
  double lr_at(int64_t step) const;
  const LrScheduleOptions& options() const { return options_; }

 private:
  LrScheduleOptions options_;
  int64_t decay_start_ = 0;  // wsd: S
  int64_t decay_steps_ = 0;  // wsd: D
};

}  // namespace xomni
