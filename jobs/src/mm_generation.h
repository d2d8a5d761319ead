#pragma once
// Decoding loops of an X-Omni style backbone through the plugins::Backbone interface: image codes
// in LogitMode::image (batched, KV cache, optional classifier-free guidance) and text in
// LogitMode::text. The loops read only the columns of the mode they sample ([V, V + K) for image
// codes, [0, V) for text), so a closed column is never drawn and a one-vocabulary backbone with
// a made-up split (tests: qwen2) runs them too.
#include <cstdint>
#include <vector>

#include "xomni/core/ops/sampling.h"
#include "xomni/plugins/components.h"

namespace xomni::cli {

// The vocabulary split of a unified model: text ids [0, text), image code k is id text + k.
struct MmVocab {
  int64_t text = 0;   // V, the text vocabulary
  int64_t image = 0;  // K, the image codes (image_vocab_size)
};

// The paper's image sampling: temperature 1, min-p 0.03, top-p 1, no top-k, no guidance.
struct ImageSampling {
  SamplingOptions sampling{1.0, 0, 1.0, 0.03};
  double cfg = 1.0;  // guidance scale g; 1 is off (the conditional distribution itself)
  uint64_t seed = 0;
};

// Samples `count` image codes after every row of `prompts` [N, P] (i64, rows of equal length,
// each ending with the image prefix "<SOM>{h} {w}<IMAGE>"). With cfg != 1, `uncond_prompt` (the
// image prefix alone) runs as N rows of a second cache and each step draws from
// g * (logsoftmax(cond) - logsoftmax(uncond)) + logsoftmax(uncond). Returns the codes k in [0, K)
// as [N, count] i64 (the token ids are V + k). Row i draws with seed + i, so a sample does not
// depend on the batch it is drawn in. use_cache = false recomputes the whole sequence at
// every step (the reference the cache must reproduce).
Tensor generate_image_codes(const plugins::Backbone& lm, const MmVocab& vocab,
                            const Tensor& prompts, const std::vector<int64_t>& uncond_prompt,
                            int64_t count, const ImageSampling& options, bool use_cache = true);

// Generates up to `max_tokens` text ids after `prompt` in LogitMode::text with the KV cache,
// stopping after the first id in `stop_ids` (which is not returned). Temperature 0 is greedy.
std::vector<int64_t> generate_text(const plugins::Backbone& lm, const MmVocab& vocab,
                                   const std::vector<int64_t>& prompt, int64_t max_tokens,
                                   const std::vector<int64_t>& stop_ids,
                                   const SamplingOptions& sampling, uint64_t seed);

}  // namespace xomni::cli
