// The [optimizer] and [schedule] sections of a job file.
#include "xomni/core/nn/optim_options.h"

#include <string>

#include "xomni/core/nn/lr_schedule.h"
#include "xomni/core/tensor/error.h"

namespace xomni {

std::vector<FieldSpec> optimizer_fields() {
  return {
      // Finite bounds: an infinite learning rate or decay turns every weight into NaN at step 1.
      float_field("optimizer.learning_rate", 3e-4, "peak learning rate").at_least(0).at_most(1e3),
      // beta = 1 would divide by 1 - beta^t = 0 in the bias correction.
      float_field("optimizer.beta1", 0.9, "AdamW beta1").at_least(0).less_than(1),
      float_field("optimizer.beta2", 0.95, "AdamW beta2").at_least(0).less_than(1),
      float_field("optimizer.eps", 1e-8, "AdamW epsilon").at_least(0).at_most(1e3),
      float_field("optimizer.weight_decay", 0.1, "decoupled weight decay (decay group)")
          .at_least(0)
          .at_most(1e3),
      strings_field("optimizer.no_decay", {"*.bias", "*norm*"},
                    "globs of parameter names without weight decay (1-D tensors always)"),
      float_field("optimizer.no_decay_lr_scale", 1.0, "learning-rate multiplier, no-decay group")
          .at_least(0)
          .at_most(1e3),
      strings_field("optimizer.freeze", {}, "globs of parameter names to freeze"),
      strings_field("optimizer.trainable", {},
                    "globs of the only parameter names that train (the rest is frozen)"),
  };
}

std::vector<FieldSpec> schedule_fields() {
  return {
      string_field("schedule.kind", "cosine", "constant, cosine, linear or wsd"),
      int_field("schedule.warmup_steps", 0, "linear warmup steps").at_least(0),
      float_field("schedule.min_lr", 0.0, "learning rate at the end of the decay (<= the peak)")
          .at_least(0)
          .at_most(1e3),
      float_field("schedule.decay_fraction", 0.1, "wsd: fraction of steps in the decay phase")
          .at_least(0)
          .at_most(1),
      string_field("schedule.wsd_shape", "linear", "wsd decay shape: linear or cosine"),
  };
}

OptimizerOptions parse_optimizer_options(const Config& c) {
  OptimizerOptions o;
  o.adamw.lr = c.get_float("optimizer.learning_rate");
  o.adamw.beta1 = c.get_float("optimizer.beta1");
  o.adamw.beta2 = c.get_float("optimizer.beta2");
  o.adamw.eps = c.get_float("optimizer.eps");
  o.adamw.weight_decay = c.get_float("optimizer.weight_decay");
  o.adamw.no_decay = c.get_strings("optimizer.no_decay");
  o.adamw.no_decay_lr_scale = c.get_float("optimizer.no_decay_lr_scale");
  o.freeze = c.get_strings("optimizer.freeze");
  o.trainable = c.get_strings("optimizer.trainable");
  XOMNI_CHECK(o.freeze.empty() || o.trainable.empty(), c.source(),
              ": set optimizer.freeze (what stays fixed) or optimizer.trainable (the only "
              "parameters that train), not both");
  return o;
}

LrScheduleOptions parse_schedule_options(const Config& c, double peak_lr, int64_t total_steps) {
  LrScheduleOptions o;
  try {
    o.decay = parse_lr_decay(c.get_string("schedule.kind"));
    o.wsd_shape = parse_wsd_shape(c.get_string("schedule.wsd_shape"));
  } catch (const Error& e) {
    throw Error(c.source() + ": schedule: " + e.what());
  }
  o.lr = peak_lr;
  o.min_lr = c.get_float("schedule.min_lr");
  o.warmup_steps = c.get_int("schedule.warmup_steps");
  o.total_steps = total_steps;
  o.decay_fraction = c.get_float("schedule.decay_fraction");
  // Cross-field rules (min_lr <= the peak, warmup shorter than the run, wsd's decay after the
  // warmup) are LrSchedule's; checked here so the message names the job file and its keys.
  try {
    const LrSchedule check(o);
  } catch (const Error& e) {
    throw Error(c.source() + ": [schedule] with train.steps = " + std::to_string(total_steps) +
                " and optimizer.learning_rate = " + std::to_string(peak_lr) + ": " + e.what() +
                " (total_steps is train.steps, lr is optimizer.learning_rate, the others are "
                "schedule.<name>)");
  }
  return o;
}

}  // namespace xomni
