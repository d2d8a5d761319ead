// Byte-level BPE trainer (incremental pair counts with a lazy max-heap, as in Hugging Face
// tokenizers' BpeTrainer).
#include "xomni/bpe/trainer.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "tokenizer_json.h"
#include "xomni/core/tensor/error.h"

namespace xomni::bpe {
namespace {

using ordered_json = nlohmann::ordered_json;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t pair_first(uint64_t k) {
  return static_cast<int32_t>(k >> 32);
}
int32_t pair_second(uint64_t k) {
  return static_cast<int32_t>(k & 0xFFFFFFFFu);
}

std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// The ByteLevel alphabet in GPT-2's order (printable bytes first, then the shifted ones), so
// that ids 0..255 match GPT-2 and Qwen vocabularies.
std::vector<uint8_t> alphabet_order() {
  std::vector<uint8_t> order(256);
  for (int b = 0; b < 256; ++b) order[b] = static_cast<uint8_t>(b);
  std::stable_sort(order.begin(), order.end(),
                   [](uint8_t x, uint8_t y) { return byte_to_unicode(x) < byte_to_unicode(y); });
  return order;
}

// The tokenizer.json of a byte-level BPE over `tokens` (ids in order) with `merges` (pairs of
// ids), the special tokens after them, and Qwen2's pipeline with the Split regex `pattern`.
ordered_json trained_tokenizer_json(const std::vector<std::string>& tokens,
                                    const std::vector<std::pair<int32_t, int32_t>>& merges,
                                    const std::vector<std::string>& special_tokens,
                                    const std::string& pattern) {
  std::vector<AddedToken> added;
  for (size_t i = 0; i < special_tokens.size(); ++i)
    added.push_back(
        {.id = int32_t(tokens.size() + i), .content = special_tokens[i], .special = true});
  std::vector<std::pair<int32_t, std::string_view>> vocab;
  for (size_t id = 0; id < tokens.size(); ++id) vocab.emplace_back(int32_t(id), tokens[id]);
  std::vector<std::pair<std::string, std::string>> merged;
  for (const auto& [a, b] : merges) merged.emplace_back(tokens[a], tokens[b]);
  const ordered_json byte_level = {{"type", "ByteLevel"},
                                   {"add_prefix_space", false},
                                   {"trim_offsets", false},
                                   {"use_regex", false}};
  const ordered_json split = {{"type", "Split"},
                              {"pattern", {{"Regex", pattern}}},
                              {"behavior", "Isolated"},
                              {"invert", false}};
  return internal::tokenizer_json(
      {.added_tokens = added,
       .normalizer = {{"type", "NFC"}},
       .pre_tokenizer = {{"type", "Sequence"},
                         {"pretokenizers", ordered_json::array({split, byte_level})}},
       .post_processor = byte_level,
       .decoder = byte_level,
       .vocab = vocab,
       .merges = merged});
}

struct HeapEntry {
  int64_t count;
  uint64_t pair;
  // std::priority_queue pops the largest: highest count, then the smallest pair.
  bool operator<(const HeapEntry& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

}  // namespace

Tokenizer train_bpe(const std::vector<std::string>& texts, size_t vocab_size,
                    const std::vector<std::string>& special_tokens, const TrainOptions& options) {
  XOMNI_CHECK(vocab_size >= 256 + special_tokens.size(), "train_bpe: vocab_size ", vocab_size,
              " is smaller than the 256 byte symbols plus ", special_tokens.size(),
              " special tokens");
  for (size_t i = 0; i < special_tokens.size(); ++i)
    XOMNI_CHECK(!special_tokens[i].empty(), "train_bpe: special token ", i, " is empty");

  // Byte alphabet.
  const std::vector<uint8_t> order = alphabet_order();
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t> token_id;
  std::array<int32_t, 256> byte_id{};
  for (int32_t i = 0; i < 256; ++i) {
    tokens.push_back(utf8(byte_to_unicode(order[i])));
    token_id.emplace(tokens.back(), i);
    byte_id[order[i]] = i;
  }

  // Words: the pieces of the corpus after splitting out the special tokens, normalizing and
  // applying the pre-tokenizer regex, with their counts.
  const Tokenizer base = Tokenizer::from_json(
      trained_tokenizer_json(tokens, {}, special_tokens, options.pattern).dump(),
      "train_bpe base tokenizer");
  std::unordered_map<std::string, int64_t> word_count;
  std::vector<std::string> plain;
  for (const std::string& text : texts) {
    // encode() already splits out added tokens; here the plain stretches are needed instead.
    plain.clear();
    size_t start = 0;
    while (start <= text.size()) {
      size_t best = std::string::npos, best_len = 0;
      for (const std::string& s : special_tokens) {
        const size_t p = text.find(s, start);
        if (p != std::string::npos && (p < best || (p == best && s.size() > best_len)))
          best = p, best_len = s.size();
      }
      plain.push_back(
          text.substr(start, best == std::string::npos ? std::string::npos : best - start));
      if (best == std::string::npos) break;
      start = best + best_len;
    }
    for (const std::string& p : plain)
      for (std::string& w : base.pre_tokenize(p)) ++word_count[std::move(w)];
  }
  std::vector<std::pair<std::string, int64_t>> sorted_words(word_count.begin(), word_count.end());
  std::sort(sorted_words.begin(), sorted_words.end());  // deterministic word order
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> freq;
  for (const auto& [w, c] : sorted_words) {
    std::vector<int32_t> sym;
    for (char ch : w) sym.push_back(byte_id[static_cast<unsigned char>(ch)]);
    words.push_back(std::move(sym));
    freq.push_back(c);
  }

  // Pair counts and where each pair occurs.
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w)
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      count[k] += freq[w];
      auto& list = where[k];
      if (list.empty() || list.back() != static_cast<int32_t>(w))
        list.push_back(static_cast<int32_t>(w));
    }
  std::priority_queue<HeapEntry> heap;
  for (const auto& [k, c] : count) heap.push({c, k});

  std::vector<std::pair<int32_t, int32_t>> merges;
  const int64_t min_freq = static_cast<int64_t>(std::max<size_t>(options.min_frequency, 1));
  while (tokens.size() + special_tokens.size() < vocab_size && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    const int64_t actual = count[top.pair];
    if (top.count != actual) {
      // Stale: a decreased count is re-queued; an increased one has a newer entry already.
      if (actual > 0 && actual < top.count) heap.push({actual, top.pair});
      continue;
    }
    if (actual < min_freq) break;
    const int32_t a = pair_first(top.pair), b = pair_second(top.pair);
    const std::string merged = tokens[a] + tokens[b];
    int32_t c;
    if (auto it = token_id.find(merged); it != token_id.end()) {
      c = it->second;  // the same string was already made by another pair
    } else {
      c = static_cast<int32_t>(tokens.size());
      tokens.push_back(merged);
      token_id.emplace(merged, c);
    }
    merges.emplace_back(a, b);

    std::vector<int32_t> ws = std::move(where[top.pair]);
    where.erase(top.pair);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    std::vector<uint64_t> grown;
    for (int32_t w : ws) {
      std::vector<int32_t>& sym = words[w];
      bool has = false;
      for (size_t i = 0; i + 1 < sym.size() && !has; ++i) has = sym[i] == a && sym[i + 1] == b;
      if (!has) continue;
      const int64_t f = freq[w];
      for (size_t i = 0; i + 1 < sym.size(); ++i) count[pair_key(sym[i], sym[i + 1])] -= f;
      std::vector<int32_t> next;
      next.reserve(sym.size());
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          next.push_back(c);
          ++i;
        } else {
          next.push_back(sym[i]);
        }
      }
      sym.swap(next);
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        const uint64_t k = pair_key(sym[i], sym[i + 1]);
        count[k] += f;
        if (sym[i] == c || sym[i + 1] == c) {
          grown.push_back(k);
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
        }
      }
    }
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (uint64_t k : grown)
      if (count[k] > 0) heap.push({count[k], k});
  }

  return Tokenizer::from_json(
      trained_tokenizer_json(tokens, merges, special_tokens, options.pattern).dump(),
      "train_bpe result");
}

}  // namespace xomni::bpe
