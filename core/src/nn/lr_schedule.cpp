// Learning-rate schedules.
#include "xomni/core/nn/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "xomni/core/tensor/error.h"

namespace xomni {

LrDecay parse_lr_decay(const std::string& name) {
  if (name == "constant") return LrDecay::constant;
  if (name == "cosine") return LrDecay::cosine;
  if (name == "linear") return LrDecay::linear;
  if (name == "wsd") return LrDecay::wsd;
  throw Error("unknown learning-rate schedule '" + name +
              "' (valid: constant, cosine, linear, wsd)");
}

WsdShape parse_wsd_shape(const std::string& name) {
  if (name == "linear") return WsdShape::linear;
  if (name == "cosine") return WsdShape::cosine;
  throw Error("unknown WSD decay shape '" + name + "' (valid: linear, cosine)");
}

LrSchedule::LrSchedule(LrScheduleOptions options) : options_(options) {
  const LrScheduleOptions& o = options_;
  XOMNI_CHECK(o.lr >= 0, "LrSchedule: lr must be >= 0, got ", o.lr);
  XOMNI_CHECK(o.min_lr >= 0 && o.min_lr <= o.lr, "LrSchedule: min_lr must be in [0, lr = ", o.lr,
              "], got ", o.min_lr);
  XOMNI_CHECK(o.warmup_steps >= 0, "LrSchedule: warmup_steps must be >= 0, got ", o.warmup_steps);
  if (o.decay == LrDecay::constant) return;
  XOMNI_CHECK(o.total_steps > o.warmup_steps, "LrSchedule: total_steps (", o.total_steps,
              ") must exceed warmup_steps (", o.warmup_steps, ") for a decaying schedule");
  if (o.decay == LrDecay::wsd) {
    XOMNI_CHECK(o.decay_fraction > 0 && o.decay_fraction <= 1,
                "LrSchedule: wsd decay_fraction must be in (0, 1], got ", o.decay_fraction);
    decay_steps_ = std::max<int64_t>(1, std::llround(o.decay_fraction * double(o.total_steps)));
    decay_start_ = o.total_steps - decay_steps_;
    XOMNI_CHECK(decay_start_ >= o.warmup_steps, "LrSchedule: the wsd decay phase (last ",
                decay_steps_, " of ", o.total_steps, " steps) overlaps the warmup (",
                o.warmup_steps, " steps)");
  }
}

double LrSchedule::lr_at(int64_t step) const {
  const LrScheduleOptions& o = options_;
  XOMNI_CHECK(step >= 0, "LrSchedule::lr_at: step must be >= 0, got ", step);
  if (step < o.warmup_steps) return o.lr * double(step + 1) / double(o.warmup_steps);
  const double span = o.lr - o.min_lr;
  auto cosine = [](double p) { return 0.5 * (1.0 + std::cos(std::numbers::pi * p)); };
  switch (o.decay) {
    case LrDecay::constant:
      return o.lr;
    case LrDecay::cosine:
    case LrDecay::linear: {
      const double p =
          std::min(1.0, double(step - o.warmup_steps) / double(o.total_steps - o.warmup_steps));
      return o.min_lr + span * (o.decay == LrDecay::cosine ? cosine(p) : 1.0 - p);
    }
    case LrDecay::wsd: {
      if (step < decay_start_) return o.lr;
      const double q = std::min(1.0, double(step - decay_start_) / double(decay_steps_));
      return o.min_lr + span * (o.wsd_shape == WsdShape::cosine ? cosine(q) : 1.0 - q);
    }
  }
  throw Error("LrSchedule: invalid decay kind");
}

}  // namespace xomni
