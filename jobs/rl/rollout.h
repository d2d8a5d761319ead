#pragma once
// Rollouts of an X-Omni policy: a group of samples for one prompt (image codes drawn in image
// mode with the KV cache), their images from the frozen diffusion decoder, and the log-probability
// of each sampled code under a model (the policy with gradients, or a frozen reference).
#include <cstdint>
#include <string>
#include <vector>

#include "codec/codec_components.h"
#include "mm_generation.h"
#include "mm_model.h"
#include "rl/rl_job.h"
#include "xomni/core/io/image.h"
#include "xomni/plugins/components.h"
#include "xomni/world/prompt_sets.h"

namespace xomni::rl {

// What sampling and decoding a rollout needs besides the policy.
struct RolloutSetup {
  const plugins::TextTokenizer* text_tokenizer = nullptr;
  const plugins::ImageTokenizer* image_tokenizer = nullptr;  // code embeddings for the decoder
  const plugins::DiffusionDecoder* decoder = nullptr;
  cli::MultimodalInfo info;
  cli::MmVocab vocab;
  int64_t grid_h = 0, grid_w = 0;  // the first of `grids`, the default
  // rl.grid alone when set, else every grid of multimodal.json (the most common first); a prompt
  // samples on the one nearest its image's aspect (grid_for).
  std::vector<std::pair<int64_t, int64_t>> grids;
  std::pair<int64_t, int64_t> grid_for(const world::Prompt& prompt) const {
    return cli::nearest_grid(grids, world::image_aspect(prompt));
  }
  cli::ImageSampling sampling;  // its seed is set per group
  int64_t decoder_steps = 0;
};

struct RolloutGroup {
  std::vector<int64_t> prompt_ids;  // caption + <SOM>{h} {w}<IMAGE>
  int64_t grid_h = 0, grid_w = 0;
  Tensor codes;               // [G, h*w] i64, code k (token id V + k)
  std::vector<Image> images;  // G decoded images
  double sample_s = 0, decode_s = 0;
};

// G samples of `prompt` on its grid (row i draws with seed + i; the decoder noise from seed),
// decoded.
RolloutGroup sample_group(const plugins::Backbone& policy, const RolloutSetup& setup,
                          const world::Prompt& prompt, int64_t group_size, uint64_t seed);

// Per-code log-probabilities [G, L] of `codes` [G, L] after `prompt_ids` under `lm`: the
// log-softmax of the image columns [V, V + K) divided by the temperature, the distribution the
// codes were drawn from before min-p / top-p filtering. Differentiable unless under NoGradGuard.
// When `entropy_sum` is given it receives the summed entropy of those distributions over the G*L
// positions.
Tensor code_log_probs(const plugins::Backbone& lm, const cli::MmVocab& vocab,
                      const std::vector<int64_t>& prompt_ids, const Tensor& codes,
                      double temperature, double* entropy_sum = nullptr);

// An X-Omni checkpoint loaded on one rank with everything its rollouts need, as an RL job names
// them: multimodal.json (rl.multimodal or the one beside the checkpoint's shards), the text and
// image tokenizers, the decoder (rl.decoder or multimodal.json's), the grid and the sampler.
struct RolloutEnv {
  cli::MmModel model;
  std::unique_ptr<plugins::TextTokenizer> text_tokenizer;
  codec::LoadedTokenizer image_tokenizer;
  codec::LoadedDecoder decoder;
  RolloutSetup setup;  // points into the members above
  RolloutEnv() = default;
  RolloutEnv(const RolloutEnv&) = delete;
  RolloutEnv& operator=(const RolloutEnv&) = delete;
};
std::unique_ptr<RolloutEnv> load_rollout_env(const RlJob& job, const std::string& checkpoint);

// A seed for rollout group `slot` of round `round` from the run's seed (well mixed, so the groups'
// seed + i ranges do not meet).
uint64_t group_seed(uint64_t run_seed, int64_t round, int64_t slot);

}  // namespace xomni::rl
