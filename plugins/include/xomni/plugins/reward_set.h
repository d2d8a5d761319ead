#pragma once
// Several reward plugins combined by a weighted sum, configured by a reward job file (TOML).
#include <memory>
#include <string>
#include <vector>

#include "xomni/plugins/reward_plugin.h"

namespace xomni::plugins {

// One entry of a reward job file.
struct RewardSpec {
  std::string plugin;  // name or path (a relative path is taken from the job file's folder)
  std::string label;   // names its scores in logs; default: the plugin's name
  double weight = 1.0;
  std::string config;  // text handed to create()
  // The prompt tasks it scores ("scene", "text", ...); empty: every task.
  std::vector<std::string> tasks;
};

// Rewards combined by a weighted sum, configured by a TOML file:
//
//   [[rewards]]
//   plugin = "ocr"              # name on the plugin search path, or a path to the .so
//   weight = 1.0                # default 1
//   label = "ocr"               # default: the plugin's name; must be unique
//   config = "psm = 7"          # text for the plugin's create(); or a [rewards.config] table,
//                               # handed over as TOML text
//   tasks = ["text"]            # default: every task; a prompt of another task is not shown
//                               # to it (a set can score scenes and text renders apart)
class RewardSet {
 public:
  static std::vector<RewardSpec> parse(const std::string& toml_text, const std::string& source);
  // The entries of a reward job file with relative plugin paths taken from its folder.
  static std::vector<RewardSpec> load_specs(const std::string& path);
  static RewardSet load(const std::string& path);  // RewardSet(load_specs(path))
  explicit RewardSet(const std::vector<RewardSpec>& specs);

  size_t size() const { return rewards_.size(); }
  const Reward& reward(size_t i) const { return *rewards_[i]; }
  double weight(size_t i) const { return weights_[i]; }
  const std::string& label(size_t i) const { return labels_[i]; }
  // The names score() gives its sub-scores, without scoring anything.
  std::vector<std::string> sub_score_names() const;

  // Whether reward i scores prompts of `task` ("" -- unknown -- : every reward does).
  bool applies(size_t i, const std::string& task) const;

  // scores = the weighted sum of the rewards that apply to the sample's task (tasks[i]; none
  // given: every reward applies); sub_score_names = "<label>" (each reward's own score) and
  // "<label>.<sub-score>" for each reward in order, every one logged; a reward that does not
  // apply to a sample leaves NaN in its columns of that sample.
  RewardScores score(const std::vector<XomniImage>& images, const std::vector<std::string>& prompts,
                     const std::vector<std::string>& metadata,
                     const std::vector<std::string>& tasks = {}) const;

 private:
  std::vector<std::unique_ptr<Reward>> rewards_;
  std::vector<double> weights_;
  std::vector<std::string> labels_;
  std::vector<std::vector<std::string>> tasks_;
};

}  // namespace xomni::plugins
