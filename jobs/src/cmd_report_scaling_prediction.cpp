#include "cmd_report_scaling_prediction.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "plan/step_model.h"

namespace xomni::cli::report {

void check_prediction_device(const PredictionDevice& device) {
  if (!device.file.empty()) plan::read_device_file(device.file);
  if (!device.name.empty()) plan::device_spec(device.name);
}

std::optional<RunPrediction> predict_run(const std::string& run_dir, const parallel::Layout& layout,
                                         const PredictionDevice& device, std::string& why) {
  const std::filesystem::path config = std::filesystem::path(run_dir) / "config.toml";
  std::ifstream in(config);
  if (!in) {
    why = config.string() + " not found";
    return std::nullopt;
  }
  if (device.file.empty() && device.name.empty()) {
    why = "no device known (no launch.env gpus_per_node; give --device)";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    const plan::PlanJob job = plan::plan_job_from_toml(text.str(), config.string());
    const plan::DeviceSpec dev =
        device.file.empty() ? plan::device_spec(device.name) : plan::read_device_file(device.file);
    const std::string problem = plan::layout_problem(job, layout);
    if (!problem.empty()) {
      why = layout.str() + ": " + problem;
      return std::nullopt;
    }
    const plan::StepPrediction p = plan::predict_step(job, layout, dev);
    return RunPrediction{p.step_s, p.tokens_per_s, p.memory.total() / 1048576.0, dev.name};
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}

}  // namespace xomni::cli::report
