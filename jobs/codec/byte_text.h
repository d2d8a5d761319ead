#pragma once
// The vq stage's text: UTF-8 bytes as token ids 0..255 plus a begin and an end id, so the small
// alignment LM needs no trained text tokenizer. A training text is a prompt (read, not
// supervised) and an answer (supervised, then the end id).
#include <cstdint>
#include <string>
#include <vector>

namespace xomni::codec {

inline constexpr int64_t kByteBegin = 256, kByteEnd = 257, kByteVocab = 258;

struct ByteExample {
  std::vector<int64_t> ids;      // begin, prompt bytes, answer bytes (the LM's input)
  std::vector<int64_t> targets;  // per input position: the next id when it is supervised, else -100
};

// At most max_tokens ids; a long prompt is cut from the front, then the answer from the back.
ByteExample byte_example(const std::string& prompt, const std::string& answer, int64_t max_tokens);

}  // namespace xomni::codec
