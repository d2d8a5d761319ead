#pragma once
// Reward plugins from C++: loading (by name on the plugin search path or by path), the ABI check,
// and create/score/destroy wrapped so that every failure (missing file or symbol, wrong ABI
// version, an error return or exception inside the plugin, a NaN or Inf score) throws a
// xomni::Error naming the plugin, its file and what to do. The C ABI is
// rewards/include/xomni/reward.h; weighted sets of rewards from a job file are reward_set.h.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xomni/core/io/image.h"
#include "xomni/reward.h"

namespace xomni::plugins {

class SharedLibrary;

// A loaded reward plugin library (shared by every Reward made from it; kept open while any is).
class RewardPlugin {
 public:
  // `name_or_path`: "ocr" finds libxomni_reward_ocr.so on plugin_search_path(); a path (with '/'
  // or ending in .so) is used as it is.
  static std::shared_ptr<const RewardPlugin> load(const std::string& name_or_path);

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& description() const { return description_; }
  const std::string& path() const;
  const std::vector<std::string>& sub_score_names() const { return sub_score_names_; }
  int batch_size_hint() const { return batch_size_hint_; }
  bool thread_safe() const { return thread_safe_; }
  const XomniRewardPlugin& abi() const { return *abi_; }
  // "reward plugin 'ocr' (/path/libxomni_reward_ocr.so)": how errors name it.
  std::string label() const;

  explicit RewardPlugin(std::unique_ptr<SharedLibrary> lib);  // use load()
  ~RewardPlugin();

 private:
  std::unique_ptr<SharedLibrary> lib_;
  const XomniRewardPlugin* abi_ = nullptr;
  std::string name_, version_, description_;
  std::vector<std::string> sub_score_names_;
  int batch_size_hint_ = 0;
  bool thread_safe_ = false;
};

// The ABI's view of a core Image (packed RGB8), valid while the image lives.
inline XomniImage reward_view(const Image& im) {
  return {im.rgb.data(), int32_t(im.width), int32_t(im.height), int64_t(im.width) * 3};
}

// The scores of one batch: scores[i], and sub_scores[i * sub_score_names.size() + k].
struct RewardScores {
  std::vector<float> scores;
  std::vector<std::string> sub_score_names;
  std::vector<float> sub_scores;
};

// One configured reward: a plugin handle made by create(config).
class Reward {
 public:
  Reward(std::shared_ptr<const RewardPlugin> plugin, const std::string& config);
  ~Reward();
  Reward(const Reward&) = delete;
  Reward& operator=(const Reward&) = delete;

  const RewardPlugin& plugin() const { return *plugin_; }
  // Scores images[i] (RGB8) with prompts[i] and metadata[i] (JSON; "" is passed as "{}"), in
  // chunks of the plugin's batch-size hint. Calls are serialised unless the plugin is
  // thread-safe.
  RewardScores score(const std::vector<XomniImage>& images, const std::vector<std::string>& prompts,
                     const std::vector<std::string>& metadata) const;

 private:
  std::shared_ptr<const RewardPlugin> plugin_;
  void* handle_ = nullptr;
  mutable std::mutex mutex_;
};

}  // namespace xomni::plugins
