// X-Omni prompt layouts (see mm_prompt.h).
#include "mm_prompt.h"

#include <string>

#include "codec/codec_data.h"
#include "xomni/core/io/image_io.h"

namespace xomni::cli {
namespace {

void add_text(std::vector<int64_t>& ids, const plugins::TextTokenizer& tok,
              const MultimodalInfo& info, const std::string& text) {
  for (int64_t id : tok.encode(text, /*allow_special=*/false)) {
    XOMNI_CHECK(id >= 0 && id < info.text_vocab_size, info.text_tokenizer, ": gave id ", id,
                " for \"", text, "\", outside the text vocabulary [0, ", info.text_vocab_size,
                ") of ", info.path);
    ids.push_back(id);
  }
}

}  // namespace

std::vector<int64_t> image_prefix_ids(const plugins::TextTokenizer& tok, const MultimodalInfo& info,
                                      int64_t h, int64_t w) {
  std::vector<int64_t> ids = {info.som};
  add_text(ids, tok, info, std::to_string(h) + " " + std::to_string(w));
  ids.push_back(info.image);
  return ids;
}

std::vector<int64_t> generation_prompt(const plugins::TextTokenizer& tok,
                                       const MultimodalInfo& info, const std::string& caption,
                                       int64_t h, int64_t w) {
  std::vector<int64_t> ids;
  add_text(ids, tok, info, caption);
  const std::vector<int64_t> prefix = image_prefix_ids(tok, info, h, w);
  ids.insert(ids.end(), prefix.begin(), prefix.end());
  return ids;
}

std::vector<int64_t> understanding_prompt(const plugins::TextTokenizer& tok,
                                          const MultimodalInfo& info, int64_t h, int64_t w,
                                          const std::vector<int64_t>& codes,
                                          const std::string& question) {
  XOMNI_CHECK(int64_t(codes.size()) == h * w, "an image of grid ", h, "x", w, " has ", codes.size(),
              " codes (expected ", h * w, ")");
  std::vector<int64_t> ids = image_prefix_ids(tok, info, h, w);
  for (int64_t k : codes) {
    XOMNI_CHECK(k >= 0 && k < info.image_vocab_size, "image code ", k,
                " is outside the image vocabulary [0, ", info.image_vocab_size, ")");
    ids.push_back(info.text_vocab_size + k);
  }
  ids.push_back(info.eom);
  add_text(ids, tok, info, question + "\n");
  return ids;
}

std::vector<int64_t> understanding_codes(const plugins::ImageTokenizer& image_tokenizer,
                                         const Image& image, int64_t h, int64_t w) {
  const int64_t p = image_tokenizer.patch_size();
  const Image fitted = resize_image(image, w * p, h * p);
  return image_tokenizer.encode(codec::image_to_tensor(fitted)).to_vector<int64_t>();
}

}  // namespace xomni::cli
