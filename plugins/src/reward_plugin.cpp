// Loading reward plugins and calling them through the C ABI with errors that name the plugin.
#include "xomni/plugins/reward_plugin.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "xomni/core/tensor/error.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::plugins {
namespace {

const char* const kRebuild =
    "rebuild the plugin against this xomni's rewards/include/xomni/reward.h";

std::string str_or(const char* s, const char* fallback) {
  return s && *s ? s : fallback;
}

}  // namespace

std::shared_ptr<const RewardPlugin> RewardPlugin::load(const std::string& name_or_path) {
  const std::string path = find_plugin_library(name_or_path, "reward_", "reward");
  return std::make_shared<const RewardPlugin>(std::make_unique<SharedLibrary>(path));
}

RewardPlugin::RewardPlugin(std::unique_ptr<SharedLibrary> lib) : lib_(std::move(lib)) {
  auto entry =
      reinterpret_cast<XomniRewardEntry>(lib_->require(XOMNI_REWARD_ENTRY, "a reward plugin"));
  abi_ = entry();
  const std::string file = lib_->path();
  XOMNI_CHECK(abi_, "reward plugin ", file, ": ", XOMNI_REWARD_ENTRY, "() returned NULL; ",
              kRebuild);
  // abi_version is the first field in every ABI version, so it can be read before the rest.
  XOMNI_CHECK(abi_->abi_version == XOMNI_REWARD_ABI_VERSION, "reward plugin ", file,
              " was built for reward ABI version ", abi_->abi_version,
              " but this xomni uses version ", XOMNI_REWARD_ABI_VERSION, "; ", kRebuild);
  name_ = str_or(abi_->name, "");
  XOMNI_CHECK(!name_.empty(), "reward plugin ", file, " has no name; set XomniRewardPlugin.name");
  version_ = str_or(abi_->version, "unversioned");
  description_ = str_or(abi_->description, "");
  XOMNI_CHECK(abi_->create && abi_->score && abi_->destroy && abi_->last_error, label(),
              " leaves create, score, destroy or last_error NULL; all four are required");
  XOMNI_CHECK(abi_->num_sub_scores >= 0 && (abi_->num_sub_scores == 0 || abi_->sub_score_names),
              label(), " declares ", abi_->num_sub_scores, " sub-scores without their names");
  for (int32_t k = 0; k < abi_->num_sub_scores; ++k)
    sub_score_names_.push_back(
        str_or(abi_->sub_score_names[k], ("sub" + std::to_string(k)).c_str()));
  batch_size_hint_ = std::max(0, int(abi_->batch_size_hint));
  thread_safe_ = abi_->thread_safe != 0;
}

RewardPlugin::~RewardPlugin() = default;

const std::string& RewardPlugin::path() const {
  return lib_->path();
}

std::string RewardPlugin::label() const {
  return "reward plugin '" + name_ + "' (" + path() + ")";
}

Reward::Reward(std::shared_ptr<const RewardPlugin> plugin, const std::string& config)
    : plugin_(std::move(plugin)) {
  const XomniRewardPlugin& abi = plugin_->abi();
  try {
    handle_ = abi.create(config.c_str());
  } catch (const std::exception& e) {
    throw Error(plugin_->label() + " threw an exception in create(): " + e.what() +
                "; fix the plugin (exceptions must not cross the C ABI) or its config");
  } catch (...) {
    throw Error(plugin_->label() + " threw an unknown exception in create(); fix the plugin");
  }
  if (!handle_) {
    const char* why = abi.last_error(nullptr);
    throw Error(plugin_->label() + " could not be created: " + str_or(why, "(no reason given)") +
                "; check its config in the job file");
  }
}

Reward::~Reward() {
  if (handle_) plugin_->abi().destroy(handle_);
}

RewardScores Reward::score(const std::vector<XomniImage>& images,
                           const std::vector<std::string>& prompts,
                           const std::vector<std::string>& metadata) const {
  const size_t n = images.size();
  XOMNI_CHECK(prompts.size() == n && (metadata.empty() || metadata.size() == n), "scoring with ",
              plugin_->label(), ": ", n, " images, ", prompts.size(), " prompts and ",
              metadata.size(), " metadata entries; they must match");
  const size_t k = plugin_->sub_score_names().size();
  RewardScores out;
  out.sub_score_names = plugin_->sub_score_names();
  out.scores.assign(n, 0.0f);
  out.sub_scores.assign(n * k, 0.0f);
  const size_t chunk =
      plugin_->batch_size_hint() > 0 ? size_t(plugin_->batch_size_hint()) : std::max<size_t>(n, 1);
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  if (!plugin_->thread_safe()) lock.lock();
  for (size_t start = 0; start < n; start += chunk) {
    const size_t m = std::min(chunk, n - start);
    std::vector<const char*> p(m), meta(m);
    for (size_t i = 0; i < m; ++i) {
      p[i] = prompts[start + i].c_str();
      meta[i] =
          metadata.empty() || metadata[start + i].empty() ? "{}" : metadata[start + i].c_str();
    }
    const XomniRewardBatch batch{int32_t(m), images.data() + start, p.data(), meta.data()};
    int rc = 0;
    try {
      rc = plugin_->abi().score(handle_, &batch, out.scores.data() + start,
                                k ? out.sub_scores.data() + start * k : nullptr);
    } catch (const std::exception& e) {
      throw Error(plugin_->label() + " threw an exception in score(): " + e.what() +
                  "; fix the plugin (exceptions must not cross the C ABI)");
    } catch (...) {
      throw Error(plugin_->label() + " threw an unknown exception in score(); fix the plugin");
    }
    if (rc != 0)
      throw Error(plugin_->label() + " failed to score samples " + std::to_string(start) + ".." +
                  std::to_string(start + m - 1) + ": " +
                  str_or(plugin_->abi().last_error(handle_), "(no reason given)"));
  }
  // A NaN or Inf reward would silently poison training: stop, naming the sample.
  for (size_t i = 0; i < n; ++i) {
    XOMNI_CHECK(std::isfinite(out.scores[i]), plugin_->label(), " returned a non-finite score (",
                out.scores[i], ") for sample ", i, " (prompt: '", prompts[i],
                "'); fix the plugin so every score is finite");
    for (size_t j = 0; j < k; ++j)
      XOMNI_CHECK(std::isfinite(out.sub_scores[i * k + j]), plugin_->label(),
                  " returned a non-finite sub-score '", out.sub_score_names[j], "' (",
                  out.sub_scores[i * k + j], ") for sample ", i, "; fix the plugin");
  }
  return out;
}

}  // namespace xomni::plugins
