#pragma once
// Settings of the flow_decoder diffusion decoder (a rectified-flow conv UNet, see model.h). The
// defaults are a tiny model for 64x64 images from 8x8 token grids.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/flow_decoder/flow_matching.h"

namespace xomni::flow_decoder {

struct Config {
  int64_t code_dim = 64;         // width of the code embeddings the decoder is conditioned on
  int64_t pixels_per_token = 8;  // image pixels per token along each side; a power of two
  int64_t channels = 32;         // UNet width at full resolution
  // Width multiplier per resolution level, from full resolution (level 0) down to the token grid
  // (level log2(pixels_per_token)). A shorter list repeats its last entry; a longer one is an
  // error. As a setting: comma-separated integers, "1,2,2".
  std::vector<int64_t> channel_mult = {1, 2, 2};
  int64_t res_blocks = 1;        // residual blocks per level, on the way down and on the way up
  int64_t groups = 8;            // GroupNorm groups; divides every level's width
  int64_t time_embed_dim = 128;  // width of the timestep embedding (even)
  int64_t steps = 16;            // Euler steps decode() takes when asked for 0
  TimestepSampling timestep_sampling = TimestepSampling::logit_normal;  // training timesteps

  // log2(pixels_per_token): the number of 2x downsamplings to the token grid.
  int64_t levels() const;
  // The UNet width at resolution level `level` (0 = full resolution).
  int64_t width(int64_t level) const;
  // Throws naming the setting when a value is out of range or the sizes do not fit together.
  void validate(const std::string& where) const;

  // Settings as a JSON object (every key optional, unknown keys refused); channel_mult as
  // "1,2,2" or as an array of integers.
  static Config from_json_text(const std::string& text, const std::string& where);
  // The settings for a job file's section, with defaults, docs and ranges.
  static std::vector<FieldSpec> job_fields();
};

// "1,2,2" -> {1, 2, 2}; throws naming channel_mult when it is not a list of positive integers.
std::vector<int64_t> parse_channel_mult(const std::string& text, const std::string& where);

}  // namespace xomni::flow_decoder
