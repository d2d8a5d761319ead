#pragma once
// The job-file sections of the optimizer and the learning-rate schedule: their fields (for a
// stage's schema) and their parsing into the option structs, owned here beside the optimizer.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/core/nn/lr_schedule.h"
#include "xomni/core/nn/optim.h"

namespace xomni {

// [optimizer]: AdamW's hyper-parameters, the no-decay globs and the freeze (or trainable) globs.
std::vector<FieldSpec> optimizer_fields();
// [schedule]: the decay kind, warmup, floor and the WSD settings.
std::vector<FieldSpec> schedule_fields();

struct OptimizerOptions {
  AdamWOptions adamw;
  std::vector<std::string> freeze;  // globs of parameter names whose weights stay fixed
  // Globs of the only parameter names that train (the rest stays fixed); empty: all of them.
  std::vector<std::string> trainable;
};

// From a config whose schema holds optimizer_fields().
OptimizerOptions parse_optimizer_options(const Config& config);
// From a config whose schema holds schedule_fields(); the peak is the optimizer's learning rate
// and the schedule spans `total_steps`. A bad kind is an Error naming the config's source.
LrScheduleOptions parse_schedule_options(const Config& config, double peak_lr, int64_t total_steps);

}  // namespace xomni
