#include "mm/mm_documents.h"

#include <limits>

#include "xomni/core/tensor/error.h"

namespace xomni::mm {

namespace {

// A special token encodes to one id when special tokens are allowed, to something else when they
// are not (its spelling is then plain text), and decodes to nothing when they are skipped.
int64_t special_id(const plugins::TextTokenizer& tok, const std::string& token) {
  const std::vector<int64_t> ids = tok.encode(token, /*allow_special=*/true);
  if (ids.size() != 1) return -1;
  if (tok.encode(token, /*allow_special=*/false) == ids) return -1;
  if (!tok.decode(ids, /*skip_special=*/true).empty()) return -1;
  return ids[0];
}

}  // namespace

SpecialTokenIds find_special_tokens(const plugins::TextTokenizer& tokenizer,
                                    const std::string& where) {
  SpecialTokenIds s;
  std::string missing;
  for (auto [token, id] : {std::pair{kSom, &s.som}, std::pair{kEom, &s.eom},
                           std::pair{kImage, &s.image}, std::pair{kEndOfText, &s.eos}}) {
    *id = special_id(tokenizer, token);
    if (*id < 0) missing += std::string(missing.empty() ? "" : ", ") + token;
  }
  XOMNI_CHECK(missing.empty(), where, ": the text tokenizer has no special token ", missing,
              " (multimodal documents need <SOM>, <EOM>, <IMAGE> and <|endoftext|> as special "
              "tokens); train one that has them with `xomni data mm-tokenizer --images DATASET "
              "--vocab-size N --out tokenizer.json`");
  return s;
}

int64_t Document::supervised() const {
  int64_t n = 0;
  for (uint8_t m : mask) n += m;
  return n;
}

DocumentBuilder::DocumentBuilder(const plugins::TextTokenizer& tokenizer, int64_t image_vocab_size,
                                 const std::string& where)
    : tok_(tokenizer),
      text_vocab_(tokenizer.vocab_size()),
      image_vocab_(image_vocab_size),
      special_(find_special_tokens(tokenizer, where)) {
  XOMNI_CHECK(image_vocab_size >= 0, where, ": negative image vocabulary size ", image_vocab_size);
  XOMNI_CHECK(text_vocab_ + image_vocab_ <= int64_t(std::numeric_limits<int32_t>::max()) + 1, where,
              ": text vocabulary ", text_vocab_, " + image codes ", image_vocab_,
              " do not fit int32 token ids");
}

void DocumentBuilder::add_id(Document& doc, int64_t id, uint8_t m) const {
  doc.ids.push_back(int32_t(id));
  doc.mask.push_back(m);
}

void DocumentBuilder::add_text(Document& doc, const std::string& text, uint8_t m) const {
  for (int64_t id : tok_.encode(text, /*allow_special=*/false)) {
    XOMNI_CHECK(id >= 0 && id < text_vocab_, "the text tokenizer gave id ", id, " for \"", text,
                "\", outside its vocabulary [0, ", text_vocab_, ")");
    add_id(doc, id, m);
  }
}

void DocumentBuilder::add_image(Document& doc, const ImageCodes& image, uint8_t m) const {
  XOMNI_CHECK(image.height >= 1 && image.width >= 1 &&
                  int64_t(image.codes.size()) == image.height * image.width,
              "an image of grid ", image.height, "x", image.width, " has ", image.codes.size(),
              " codes (expected height * width)");
  add_id(doc, special_.som, 0);
  add_text(doc, std::to_string(image.height) + " " + std::to_string(image.width), 0);
  add_id(doc, special_.image, 0);
  for (size_t k = 0; k < image.codes.size(); ++k) {
    const int64_t c = image.codes[k];
    XOMNI_CHECK(c >= 0 && c < image_vocab_, "image code ", k, " is ", c,
                ", outside the image vocabulary [0, ", image_vocab_, ")");
    add_id(doc, text_vocab_ + c, m);
  }
  add_id(doc, special_.eom, m);
}

Document DocumentBuilder::generation(const std::string& caption, const ImageCodes& image) const {
  Document doc;
  add_text(doc, caption, 0);
  add_image(doc, image, 1);
  return doc;
}

Document DocumentBuilder::understanding(const ImageCodes& image, const std::string& question,
                                        const std::string& answer) const {
  return understanding(image, {{question, answer}});
}

Document DocumentBuilder::understanding(
    const ImageCodes& image, const std::vector<std::pair<std::string, std::string>>& turns) const {
  Document doc;
  add_image(doc, image, 0);
  for (const auto& [question, answer] : turns) {
    add_text(doc, question + "\n", 0);
    add_text(doc, answer, 1);
    add_id(doc, special_.eos, 1);
  }
  return doc;
}

Document DocumentBuilder::text(const std::string& text) const {
  Document doc;
  add_text(doc, text, 1);
  add_id(doc, special_.eos, 1);
  return doc;
}

}  // namespace xomni::mm
