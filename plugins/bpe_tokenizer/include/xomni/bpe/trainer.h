#pragma once
// Byte-level BPE trainer: learns merges over the 256-symbol byte alphabet on the words that the
// Qwen2 pre-tokenizer (NFC, then the Split regex) cuts from a corpus.
#include <cstddef>
#include <string>
#include <vector>

#include "xomni/bpe/tokenizer.h"

namespace xomni::bpe {

// The pre-tokenizer regex of Qwen2 (and Qwen3) tokenizer.json files.
inline constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct TrainOptions {
  // A pair seen fewer times than this is never merged (training stops early instead).
  size_t min_frequency = 2;
  std::string pattern = kQwen2Pattern;
};

// Learns merges until the vocabulary (256 byte symbols + merged tokens + special tokens) holds
// vocab_size entries or no pair reaches min_frequency. Each step merges the most frequent
// adjacent pair (ties: the pair with the smaller ids). Special tokens get the ids after the
// merged tokens and are split out of the corpus before counting. Throws xomni::Error when
// vocab_size < 256 + special_tokens.size().
Tokenizer train_bpe(const std::vector<std::string>& texts, size_t vocab_size,
                    const std::vector<std::string>& special_tokens = {},
                    const TrainOptions& options = {});

}  // namespace xomni::bpe
