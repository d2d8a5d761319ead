#pragma once
// The realism stage's job file (run.stage = "realism"): the shared trainer sections, [model]
// (the scorer's sizes, realism_model.h) and [data] (image datasets whose sample kinds carry the
// labels, as `xomni data realism` writes them).
#include <cstdint>
#include <string>
#include <vector>

#include "realism/realism_model.h"
#include "train/options.h"
#include "xomni/core/config/config.h"

namespace xomni::realism {

// Sample kinds and their labels: a rendering of clean codes or a dataset image is real (1), a
// rendering of corrupted codes is not (0).
inline constexpr const char* kCleanKind = "clean";
inline constexpr const char* kRealKind = "real";
inline constexpr const char* kCorruptedKind = "corrupted";
// 1 for clean or real, 0 for corrupted; anything else throws naming `where`.
float label_of_kind(const std::string& kind, const std::string& where);

struct RealismDataOptions {
  std::string train;  // an image dataset folder of labelled samples
  std::string valid;  // "" for none
  int64_t eval_batches = 4;
  int64_t prefetch = 2;
  // Mirror half the training images left-right (which half: a function of the seed and the
  // sample's place in the stream, so resuming draws the same); both classes keep their label.
  bool hflip = true;
};

struct RealismJob {
  train::TrainerOptions trainer;
  RealismModelOptions model;
  RealismDataOptions data;
};

bool is_realism_stage(const std::string& stage);  // "realism"

// Reads a realism job file; relative paths in the file are relative to its folder.
Config load_realism_config(const std::string& path, const std::vector<std::string>& overrides = {});
Config parse_realism_config(const std::string& text, const std::string& source,
                            const std::vector<std::string>& overrides = {},
                            const std::string& base_dir = "");
RealismJob parse_realism_job(const Config& config);

}  // namespace xomni::realism
