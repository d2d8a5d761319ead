#pragma once
// Byte-level BPE text tokenizer that reads a Hugging Face tokenizer.json (the Qwen2 layout:
// NFC normalizer, a regex Split pre-tokenizer followed by ByteLevel, a BPE model, a ByteLevel
// decoder) and encodes exactly as the Hugging Face `tokenizers` library does with
// add_special_tokens=false. The post-processor is ignored (it only adds special tokens).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xomni::bpe {

// One entry of tokenizer.json's "added_tokens".
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;  // matches only when not inside a word
  bool lstrip = false;       // swallows the whitespace on its left
  bool rstrip = false;       // swallows the whitespace on its right
  bool normalized = false;   // matched on the raw text here in every case (Qwen's are all false)
};

class Tokenizer {
 public:
  // Reads tokenizer.json. Throws xomni::Error naming the file and the JSON path of anything
  // missing, malformed or unsupported.
  static Tokenizer from_file(const std::string& path);
  // The same from JSON text; `origin` names it in error messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& origin = "<json>");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text (UTF-8; invalid UTF-8 throws) to ids. Added tokens are split out first (leftmost,
  // longest match); with allow_special=false the special ones are treated as plain text.
  // Thread-safe (the word cache is locked).
  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;
  // Ids to bytes: each token's bytes concatenated (UTF-8 for whole texts; a slice of the ids may
  // end inside a character). An unknown id throws; skip_special drops the special added tokens.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The text after the normalizer, and the pre-tokenizer's pieces of it (raw UTF-8, before the
  // byte-level mapping); added tokens are not split out here.
  std::string normalize(std::string_view text) const;
  std::vector<std::string> pre_tokenize(std::string_view text) const;

  // Writes tokenizer.json in the Hugging Face layout (loads back with from_file).
  void save(const std::string& path) const;
  std::string to_json() const;

  // One more than the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const;
  // Id of a vocabulary token (byte-level alphabet, e.g. "Ġthe") or of an added token's content.
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The vocabulary string (or added token content) of an id; throws for an unknown id.
  const std::string& id_to_token(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;
  // The merges in rank order, as vocabulary strings.
  const std::vector<std::pair<std::string, std::string>>& merges() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The GPT-2 byte-to-unicode table used by ByteLevel: byte b is written as the code point
// byte_to_unicode(b) (printable Latin-1 bytes as themselves, the rest shifted above U+0100).
char32_t byte_to_unicode(uint8_t b);

}  // namespace xomni::bpe
