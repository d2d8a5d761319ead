// Reward job files ([[rewards]] entries in TOML) and the weighted sum of several rewards.
#include "xomni/plugins/reward_set.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "xomni/core/tensor/error.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::plugins {
namespace fs = std::filesystem;

namespace {

std::string where(const std::string& source, const toml::node& node) {
  const auto& b = node.source().begin;
  return source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column);
}

}  // namespace

std::vector<RewardSpec> RewardSet::parse(const std::string& toml_text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                std::string(e.description()));
  }
  const toml::array* list = doc["rewards"].as_array();
  XOMNI_CHECK(
      list && !list->empty(), source,
      ": no [[rewards]] entries; add one per reward, e.g.\n  [[rewards]]\n  plugin = \"ocr\"\n"
      "  weight = 1.0");
  std::vector<RewardSpec> specs;
  std::set<std::string> labels;
  for (const toml::node& item : *list) {
    const toml::table* t = item.as_table();
    XOMNI_CHECK(t, where(source, item), ": each rewards entry must be a table ([[rewards]])");
    RewardSpec s;
    for (const auto& [key, value] : *t) {
      const std::string k(key.str());
      if (k == "plugin" && value.is_string()) {
        s.plugin = value.as_string()->get();
      } else if (k == "label" && value.is_string()) {
        s.label = value.as_string()->get();
      } else if (k == "weight" && (value.is_floating_point() || value.is_integer())) {
        s.weight = value.value<double>().value();
      } else if (k == "config" && value.is_string()) {
        s.config = value.as_string()->get();
      } else if (k == "config" && value.is_table()) {
        std::ostringstream os;
        os << *value.as_table();
        s.config = os.str();
      } else if (k == "tasks" && value.is_array() &&
                 (value.as_array()->empty() || value.as_array()->is_homogeneous<std::string>())) {
        // (toml++ calls an empty array heterogeneous; it gets its own message below)
        for (const toml::node& task : *value.as_array()) {
          s.tasks.push_back(task.as_string()->get());
          XOMNI_CHECK(!s.tasks.back().empty(), where(source, task), ": an empty task name");
        }
        XOMNI_CHECK(!s.tasks.empty(), where(source, value),
                    ": tasks = [] would score nothing; leave it out to score every task");
      } else {
        const bool known =
            k == "plugin" || k == "label" || k == "weight" || k == "config" || k == "tasks";
        throw Error(where(source, value) + ": " +
                    (known ? "'" + k +
                                 "' has the wrong type (plugin, label: string; weight: number; "
                                 "config: string or table; tasks: list of strings)"
                           : "unknown key '" + k +
                                 "' in [[rewards]] (known: plugin, label, weight, config, tasks)"));
      }
    }
    XOMNI_CHECK(!s.plugin.empty(), where(source, item),
                ": a [[rewards]] entry has no plugin = \"<name or path>\"");
    XOMNI_CHECK(std::isfinite(s.weight), where(source, item), ": weight must be finite");
    if (s.label.empty()) {
      // A path's label is the plugin file's stem without "libxomni_reward_".
      std::string stem = fs::path(s.plugin).stem().string();
      if (stem.rfind("libxomni_reward_", 0) == 0) stem = stem.substr(16);
      s.label = stem;
    }
    XOMNI_CHECK(labels.insert(s.label).second, where(source, item), ": two rewards are labelled '",
                s.label, "'; give one a different label = \"...\"");
    specs.push_back(std::move(s));
  }
  return specs;
}

std::vector<RewardSpec> RewardSet::load_specs(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open reward job file ", path);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<RewardSpec> specs = parse(text.str(), path);
  const fs::path dir = fs::path(path).parent_path();
  for (RewardSpec& s : specs) {
    if (is_plugin_path(s.plugin) && fs::path(s.plugin).is_relative())
      s.plugin = (dir / s.plugin).lexically_normal().string();
  }
  return specs;
}

RewardSet RewardSet::load(const std::string& path) {
  return RewardSet(load_specs(path));
}

std::vector<std::string> RewardSet::sub_score_names() const {
  std::vector<std::string> names;
  for (size_t r = 0; r < rewards_.size(); ++r) {
    names.push_back(labels_[r]);
    for (const std::string& sub : rewards_[r]->plugin().sub_score_names())
      names.push_back(labels_[r] + "." + sub);
  }
  return names;
}

RewardSet::RewardSet(const std::vector<RewardSpec>& specs) {
  for (const RewardSpec& s : specs) {
    rewards_.push_back(std::make_unique<Reward>(RewardPlugin::load(s.plugin), s.config));
    weights_.push_back(s.weight);
    labels_.push_back(s.label.empty() ? rewards_.back()->plugin().name() : s.label);
    tasks_.push_back(s.tasks);
  }
}

bool RewardSet::applies(size_t i, const std::string& task) const {
  const std::vector<std::string>& t = tasks_.at(i);
  return task.empty() || t.empty() || std::find(t.begin(), t.end(), task) != t.end();
}

RewardScores RewardSet::score(const std::vector<XomniImage>& images,
                              const std::vector<std::string>& prompts,
                              const std::vector<std::string>& metadata,
                              const std::vector<std::string>& tasks) const {
  const size_t n = images.size();
  XOMNI_CHECK(tasks.empty() || tasks.size() == n, "RewardSet::score: ", tasks.size(), " tasks for ",
              n, " images");
  for (size_t i = 0; i < tasks.size(); ++i) {
    bool scored = false;
    for (size_t r = 0; r < rewards_.size() && !scored; ++r) scored = applies(r, tasks[i]);
    XOMNI_CHECK(scored, "sample ", i, " is a '", tasks[i],
                "' prompt, and no reward of the set scores that task (add one whose tasks list it, "
                "or one without tasks)");
  }
  RewardScores out;
  out.sub_score_names = sub_score_names();
  const size_t width = out.sub_score_names.size();
  out.sub_scores.assign(n * width, std::numeric_limits<float>::quiet_NaN());
  std::vector<double> total(n, 0.0);
  size_t col = 0;
  for (size_t r = 0; r < rewards_.size(); ++r) {
    // The samples this reward scores: a plugin only ever sees prompts of its own tasks.
    std::vector<size_t> mine;
    for (size_t i = 0; i < n; ++i)
      if (applies(r, tasks.empty() ? "" : tasks[i])) mine.push_back(i);
    const size_t k = rewards_[r]->plugin().sub_score_names().size();
    RewardScores p;
    if (mine.size() == n) {
      p = rewards_[r]->score(images, prompts, metadata);
    } else if (!mine.empty()) {
      std::vector<XomniImage> im;
      std::vector<std::string> pr, me;
      for (size_t i : mine) {
        im.push_back(images[i]);
        pr.push_back(prompts.at(i));
        me.push_back(metadata.empty() ? "" : metadata.at(i));
      }
      try {
        p = rewards_[r]->score(im, pr, me);
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (sample numbers count the " +
                    std::to_string(mine.size()) + " of " + std::to_string(n) +
                    " samples whose task it scores)");
      }
    }
    for (size_t j = 0; j < mine.size(); ++j) {
      const size_t i = mine[j];
      total[i] += weights_[r] * double(p.scores[j]);
      float* row = out.sub_scores.data() + i * width + col;
      row[0] = p.scores[j];
      std::copy_n(p.sub_scores.data() + j * k, k, row + 1);
    }
    col += 1 + k;
  }
  out.scores.assign(total.begin(), total.end());
  return out;
}

}  // namespace xomni::plugins
