// Reward job files ([[rewards]] entries in TOML) and the weighted sum of several rewards.
#include "xomni/plugins/reward_set.h"

#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
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
      } else {
        const bool known = k == "plugin" || k == "label" || k == "weight" || k == "config";
        throw Error(where(source, value) + ": " +
                    (known ? "'" + k +
                                 "' has the wrong type (plugin, label: string; weight: number; "
                                 "config: string or table)"
                           : "unknown key '" + k +
                                 "' in [[rewards]] (known: plugin, label, weight, config)"));
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
  }
}

RewardScores RewardSet::score(const std::vector<XomniImage>& images,
                              const std::vector<std::string>& prompts,
                              const std::vector<std::string>& metadata) const {
  const size_t n = images.size();
  RewardScores out;
  out.scores.assign(n, 0.0f);
  std::vector<RewardScores> parts;
  for (size_t r = 0; r < rewards_.size(); ++r)
    parts.push_back(rewards_[r]->score(images, prompts, metadata));
  out.sub_score_names = sub_score_names();
  const size_t width = out.sub_score_names.size();
  out.sub_scores.assign(n * width, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    double total = 0.0;
    size_t col = 0;
    for (size_t r = 0; r < parts.size(); ++r) {
      const RewardScores& p = parts[r];
      total += weights_[r] * double(p.scores[i]);
      out.sub_scores[i * width + col++] = p.scores[i];
      const size_t k = p.sub_score_names.size();
      for (size_t j = 0; j < k; ++j) out.sub_scores[i * width + col++] = p.sub_scores[i * k + j];
    }
    out.scores[i] = float(total);
  }
  return out;
}

}  // namespace xomni::plugins
