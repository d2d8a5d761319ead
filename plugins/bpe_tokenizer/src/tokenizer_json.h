#pragma once
// The one writer of tokenizer.json (Tokenizer::save, and the tokenizers train_bpe builds): the
// Hugging Face layout with a byte-level BPE model; the caller supplies the pipeline steps as JSON.
// Not installed.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "xomni/bpe/tokenizer.h"

namespace xomni::bpe::internal {

struct TokenizerJsonParts {
  std::span<const AddedToken> added_tokens;
  nlohmann::ordered_json normalizer, pre_tokenizer, post_processor, decoder;
  std::span<const std::pair<int32_t, std::string_view>> vocab;  // (id, token), ascending ids
  std::span<const std::pair<std::string, std::string>> merges;  // in merge order
  bool ignore_merges = false;
};

nlohmann::ordered_json tokenizer_json(const TokenizerJsonParts& parts);

}  // namespace xomni::bpe::internal
