#pragma once
// The job file of `xomni data synth`, parsed once.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/world/scene.h"

namespace xomni::cli {

struct SynthOptions {
  uint64_t seed = 0;
  std::string out;
  int64_t samples_per_shard = 1000;
  int64_t scenes = 0, text_short = 0, text_long = 0;  // samples of each kind (none negative)
  world::SceneOptions scene;                          // size and background of scenes
  double text_scale = 1;  // text images at this share of their bucket's size (256x64, 512x256)
};

// Loads and checks `path` with `--set` overrides; throws naming the file and the field.
SynthOptions load_synth_options(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace xomni::cli
