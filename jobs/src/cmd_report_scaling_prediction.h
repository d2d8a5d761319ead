#pragma once
// The step model's prediction for one measured run of `xomni report scaling`: the run's own job
// (its config.toml) on its own layout and device count, so the table can put predicted beside
// measured throughput and memory (docs/SCALING.md).
#include <optional>
#include <string>

#include "xomni/parallel/topology.h"

namespace xomni::cli::report {

struct RunPrediction {
  double step_s = 0;
  double tokens_per_s = 0;
  double memory_mib = 0;  // the fullest rank's peak
  std::string device;     // the device table entry used
};

// Which device the model runs a run on: --device-file, else --device, else the run's launch.env
// (gpus_per_node 0: "cpu"; a GPU: "h100"); empty when nothing says.
struct PredictionDevice {
  std::string name, file;
};

// Throws (naming the known devices, or what is wrong with the file) when a device given on the
// command line cannot be used.
void check_prediction_device(const PredictionDevice& device);

// The prediction for `run_dir` on `layout`, or nullopt with `why` set when the run has no
// config.toml, the model cannot read it (e.g. a stage it does not model) or no device is known.
std::optional<RunPrediction> predict_run(const std::string& run_dir, const parallel::Layout& layout,
                                         const PredictionDevice& device, std::string& why);

}  // namespace xomni::cli::report
