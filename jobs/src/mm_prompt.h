#pragma once
// The X-Omni prompts as the multimodal documents lay them out (jobs/mm, DocumentBuilder): text is
// encoded as plain text, special tokens by their ids from multimodal.json.
//   image prefix   <SOM>{h} {w}<IMAGE>
//   generation     {caption}<SOM>{h} {w}<IMAGE>           (the model continues with the codes)
//   understanding  <SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\n   (it continues with the answer)
#include <cstdint>
#include <vector>

#include "mm_model.h"
#include "xomni/core/io/image.h"

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
// The codes an understanding prompt shows for `image`: the image stretched to the h x w grid's
// pixels (h and w times the tokenizer's patch size) and encoded, k in [0, K) in raster order.
// mm-eval's VQA and the judge reward read images this way.
std::vector<int64_t> understanding_codes(const plugins::ImageTokenizer& image_tokenizer,
                                         const Image& image, int64_t h, int64_t w);

}  // namespace xomni::cli
