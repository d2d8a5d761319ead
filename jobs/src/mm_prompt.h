#pragma once
// The X-Omni prompts as the multimodal documents lay them out (jobs/mm, DocumentBuilder): text is
// encoded as plain text, special tokens by their ids from multimodal.json.
//   image prefix   <SOM>{h} {w}<IMAGE>
//   generation     {caption}<SOM>{h} {w}<IMAGE>           (the model continues with the codes)
//   understanding  <SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\n   (it continues with the answer)
#include <cstdint>
#include <vector>

#include "mm_model.h"

namespace xomni::cli {

std::vector<int64_t> image_prefix_ids(const plugins::TextTokenizer& tok, const MultimodalInfo& info,
                                      int64_t h, int64_t w);
std::vector<int64_t> generation_prompt(const plugins::TextTokenizer& tok,
                                       const MultimodalInfo& info, const std::string& caption,
                                       int64_t h, int64_t w);
// codes: k in [0, K), raster order of the h x w grid.
std::vector<int64_t> understanding_prompt(const plugins::TextTokenizer& tok,
                                          const MultimodalInfo& info, int64_t h, int64_t w,
                                          const std::vector<int64_t>& codes,
                                          const std::string& question);

}  // namespace xomni::cli
