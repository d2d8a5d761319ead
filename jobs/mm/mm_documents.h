#pragma once
// Multimodal token documents (X-Omni's unified sequences) from a text tokenizer, an image's code
// ids and texts. Ids: text ids in [0, V) (V the text tokenizer's vocabulary), image code k as
// V + k. An image is `<SOM>{h} {w}<IMAGE>` + its h*w codes in raster order + `<EOM>`, with h and w
// the token grid written as plain text ("8 8"). Each document carries a loss mask (1 = the token
// is a training target):
//   generation     {caption}<SOM>{h} {w}<IMAGE>{codes}<EOM>                    codes and <EOM>
//   understanding  <SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\n{answer}<|endoftext|>, and with
//                  several turns each further {question}\n{answer}<|endoftext|> after it
//                                                                      answer and <|endoftext|>
//   text           {text}<|endoftext|>                                         every token
// The question and the answer are encoded apart, the answer after a newline: an asking prompt
// ends with "{question}\n" and the model continues with the answer tokens it was trained on.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/plugins/components.h"

namespace xomni::mm {

// The special tokens every multimodal document needs, as they are spelt in the tokenizer.
inline constexpr const char* kSom = "<SOM>";
inline constexpr const char* kEom = "<EOM>";
inline constexpr const char* kImage = "<IMAGE>";
inline constexpr const char* kEndOfText = "<|endoftext|>";
// The question of a captioning document (an understanding document whose answer is a caption).
inline constexpr const char* kCaptionQuestion = "Describe the image.";

struct SpecialTokenIds {
  int64_t som = -1, eom = -1, image = -1, eos = -1;
};

// The ids of <SOM>, <EOM>, <IMAGE> and <|endoftext|> in `tokenizer`; throws naming each one that
// is not a special token of it (`where` names the tokenizer) and how to make a tokenizer that has
// them.
SpecialTokenIds find_special_tokens(const plugins::TextTokenizer& tokenizer,
                                    const std::string& where);

// One image's codes: grid h x w, h*w code ids in [0, image_vocab_size), raster order.
struct ImageCodes {
  int64_t height = 0, width = 0;
  std::vector<int64_t> codes;
};

struct Document {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;   // as long as ids
  int64_t supervised() const;  // tokens with mask 1
};

class DocumentBuilder {
 public:
  // `tokenizer` must outlive the builder; `image_vocab_size` K: codes are in [0, K) (0 for a
  // builder of text documents only).
  DocumentBuilder(const plugins::TextTokenizer& tokenizer, int64_t image_vocab_size,
                  const std::string& where);

  Document generation(const std::string& caption, const ImageCodes& image) const;
  Document understanding(const ImageCodes& image, const std::string& question,
                         const std::string& answer) const;
  // One image, then several (question, answer) turns; the loss is on every answer and its
  // <|endoftext|>.
  Document understanding(const ImageCodes& image,
                         const std::vector<std::pair<std::string, std::string>>& turns) const;
  Document text(const std::string& text) const;

  int64_t text_vocab_size() const { return text_vocab_; }
  int64_t image_vocab_size() const { return image_vocab_; }
  const SpecialTokenIds& special() const { return special_; }

 private:
  // Appends text encoded as plain text (special-token spellings stay text) with mask `m`.
  void add_text(Document& doc, const std::string& text, uint8_t m) const;
  void add_id(Document& doc, int64_t id, uint8_t m) const;
  // <SOM>{h} {w}<IMAGE>{codes}<EOM>; the codes and <EOM> get mask `m`, the prefix 0.
  void add_image(Document& doc, const ImageCodes& image, uint8_t m) const;

  const plugins::TextTokenizer& tok_;
  int64_t text_vocab_, image_vocab_;
  SpecialTokenIds special_;
};

}  // namespace xomni::mm
