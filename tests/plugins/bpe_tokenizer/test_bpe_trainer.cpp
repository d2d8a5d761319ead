// Byte-level BPE trainer: merge order on a corpus with known pair counts, vocabulary size,
// exact round trips, and save/load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "xomni/bpe/tokenizer.h"
#include "xomni/bpe/trainer.h"

using xomni::bpe::Tokenizer;
using xomni::bpe::train_bpe;
using Merge = std::pair<std::string, std::string>;

namespace {

std::vector<std::string> repeat(const std::string& word, int n) {
  return std::vector<std::string>(n, word);
}

// ~40 KB of mixed text: pseudo-random words, code, Chinese, emoji, digits.
std::vector<std::string> mixed_corpus() {
  std::vector<std::string> texts = {
      "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n",
      "我们今天去公园散步，天气非常好。机器学习是人工智能的一个分支。",
      "Emoji: 👋🏽 👨‍👩‍👧‍👦 🎉🎉 and numbers 3.14159 2026-11-29 1,000,000",
      "Tabs\tand  double  spaces\r\nand\n\n\nnewlines   ",
      "Café crème brûlée, naïve façade, Ångström.",
  };
  uint64_t state = 7;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  const char* syll[] = {"the", "an", "ing", "ed", "st", "qu", "ick", "br", "own", "fox",
                        "ju",  "mp", "s",   "ov", "er", "la", "zy",  "do", "g",   "ion"};
  for (int line = 0; line < 400; ++line) {
    std::string t;
    for (int w = 0; w < 12; ++w) {
      const int n = 1 + next() % 3;
      if (w) t += ' ';
      for (int k = 0; k < n; ++k) t += syll[next() % 20];
    }
    t += line % 7 == 0 ? ".\n" : ",";
    texts.push_back(t);
  }
  return texts;
}

}  // namespace

// The classic corpus: hug x10, pug x5, pun x12, bun x4, hugs x5 (one word per text, so no
// space-prefixed words). Pair counts: ug 20, pu 17, un 16, hu 15, gs 5, bu 4. Greedy merging:
//   1. u+g (20)   2. u+n (16)   3. h+ug (15)   4. p+un (12)
//   5. p+ug (5) and hug+s (5) tie: the pair with smaller ids, p+ug, goes first   6. hug+s (5)
//   7. b+un (4); then every word is one token and training stops.
TEST(BpeTrainer, FirstMergesAreTheMostFrequentPairs) {
  std::vector<std::string> corpus;
  for (auto [w, n] : std::vector<std::pair<std::string, int>>{
           {"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}}) {
    const auto r = repeat(w, n);
    corpus.insert(corpus.end(), r.begin(), r.end());
  }
  const Tokenizer t = train_bpe(corpus, 1000, {"<|endoftext|>"});
  const std::vector<Merge> expected = {{"u", "g"},  {"u", "n"},   {"h", "ug"}, {"p", "un"},
                                       {"p", "ug"}, {"hug", "s"}, {"b", "un"}};
  EXPECT_EQ(t.merges(), expected);
  // 256 bytes + 7 merged tokens + 1 special: training stopped when no pair was left.
  EXPECT_EQ(t.vocab_size(), 264);
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 263);
  for (const char* w : {"hug", "pug", "pun", "bun", "hugs"}) EXPECT_EQ(t.encode(w).size(), 1u) << w;
  EXPECT_EQ(t.encode("hugs<|endoftext|>bun"),
            (std::vector<int32_t>{*t.token_to_id("hugs"), 263, *t.token_to_id("bun")}));

  // min_frequency 6 keeps only the first four merges (counts 20, 16, 15, 12).
  xomni::bpe::TrainOptions opts;
  opts.min_frequency = 6;
  const Tokenizer t6 = train_bpe(corpus, 1000, {}, opts);
  EXPECT_EQ(t6.merges(), std::vector<Merge>(expected.begin(), expected.begin() + 4));
  // vocab_size caps the merges: 256 + 2 merges + 1 special.
  const Tokenizer t2 = train_bpe(corpus, 259, {"<|endoftext|>"});
  EXPECT_EQ(t2.merges(), std::vector<Merge>(expected.begin(), expected.begin() + 2));
  EXPECT_EQ(t2.vocab_size(), 259);
}

// An independent, naive trainer (recounts every pair at every step) learns the same merges as
// the incremental one, on the words the pre-tokenizer cuts from the mixed corpus.
TEST(BpeTrainer, AgreesWithNaiveRecountingTrainer) {
  const auto corpus = mixed_corpus();
  const size_t vocab = 450;
  const Tokenizer t = train_bpe(corpus, vocab, {});

  std::map<std::string, int64_t> word_count;
  for (const std::string& text : corpus)
    for (const std::string& w : t.pre_tokenize(text)) ++word_count[w];
  // Alphabet: ids in GPT-2 order (sorted by the byte's code point).
  std::vector<std::pair<char32_t, int>> order;
  for (int b = 0; b < 256; ++b)
    order.emplace_back(xomni::bpe::byte_to_unicode(static_cast<uint8_t>(b)), b);
  std::sort(order.begin(), order.end());
  std::vector<std::string> tokens(256);
  std::vector<int32_t> byte_id(256);
  for (int i = 0; i < 256; ++i) {
    const char32_t cp = order[i].first;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    tokens[i] = s;
    byte_id[order[i].second] = i;
  }
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [w, c] : word_count) {
    std::vector<int32_t> sym;
    for (char ch : w) sym.push_back(byte_id[static_cast<unsigned char>(ch)]);
    words.emplace_back(sym, c);
  }
  std::vector<Merge> merges;
  while (tokens.size() < vocab) {
    std::map<std::pair<int32_t, int32_t>, int64_t> counts;
    for (const auto& [sym, c] : words)
      for (size_t i = 0; i + 1 < sym.size(); ++i) counts[{sym[i], sym[i + 1]}] += c;
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t best_count = 0;
    for (const auto& [p, c] : counts)  // ascending pairs: the first maximum has the smaller ids
      if (c > best_count) best = p, best_count = c;
    if (best_count < 2) break;
    const std::string merged = tokens[best.first] + tokens[best.second];
    merges.emplace_back(tokens[best.first], tokens[best.second]);
    auto found = std::find(tokens.begin(), tokens.end(), merged);
    const int32_t id = static_cast<int32_t>(found - tokens.begin());
    if (found == tokens.end()) tokens.push_back(merged);
    for (auto& [sym, c] : words) {
      std::vector<int32_t> next;
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == best.first && sym[i + 1] == best.second) {
          next.push_back(id);
          ++i;
        } else {
          next.push_back(sym[i]);
        }
      }
      sym = next;
    }
  }
  ASSERT_EQ(merges.size(), vocab - 256);
  EXPECT_EQ(t.merges(), merges);
}

TEST(BpeTrainer, ReachesVocabSizeAndRoundTripsExactly) {
  const auto corpus = mixed_corpus();
  const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>"};
  const Tokenizer t = train_bpe(corpus, 700, specials);
  EXPECT_EQ(t.vocab_size(), 700);
  EXPECT_EQ(t.merges().size(), 700u - 256 - 2);
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 698);
  EXPECT_EQ(t.token_to_id("<|im_start|>"), 699);
  size_t bytes = 0, tokens = 0;
  for (const std::string& text : corpus) {
    const auto ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), t.normalize(text));
    bytes += text.size();
    tokens += ids.size();
  }
  // The learned merges compress the training text (well below one token per byte).
  EXPECT_LT(tokens * 3, bytes);
  // Text never seen in training still round-trips (byte fallback through the alphabet).
  const std::string unseen = "Zebra ΩΨ 🦀 <|im_start|>x\x01\x7f";
  EXPECT_EQ(t.decode(t.encode(unseen)), unseen);
  EXPECT_EQ(t.decode(t.encode(unseen), true), "Zebra ΩΨ 🦀 x\x01\x7f");
}

TEST(BpeTrainer, SaveLoadGivesIdenticalEncodings) {
  const auto corpus = mixed_corpus();
  const Tokenizer t = train_bpe(corpus, 600, {"<|endoftext|>"});
  const auto path = std::filesystem::temp_directory_path() /
                    ("xomni_bpe_" + std::to_string(::getpid()) + ".json");
  t.save(path.string());
  const Tokenizer back = Tokenizer::from_file(path.string());
  EXPECT_EQ(back.merges(), t.merges());
  EXPECT_EQ(back.vocab_size(), t.vocab_size());
  EXPECT_EQ(back.to_json(), t.to_json());
  for (const std::string& text : corpus) EXPECT_EQ(back.encode(text), t.encode(text));

  // The file has the Hugging Face layout.
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  EXPECT_EQ(j.at("model").at("type"), "BPE");
  EXPECT_EQ(j.at("model").at("vocab").size(), 599u);
  EXPECT_EQ(j.at("model").at("vocab").at("!"), 0);  // GPT-2 alphabet order
  EXPECT_EQ(j.at("model").at("merges").size(), t.merges().size());
  EXPECT_EQ(j.at("normalizer").at("type"), "NFC");
  EXPECT_EQ(j.at("pre_tokenizer").at("pretokenizers").at(0).at("type"), "Split");
  EXPECT_EQ(j.at("pre_tokenizer").at("pretokenizers").at(0).at("pattern").at("Regex"),
            xomni::bpe::kQwen2Pattern);
  EXPECT_EQ(j.at("pre_tokenizer").at("pretokenizers").at(1).at("type"), "ByteLevel");
  EXPECT_EQ(j.at("decoder").at("type"), "ByteLevel");
  EXPECT_EQ(j.at("added_tokens").at(0).at("content"), "<|endoftext|>");
  EXPECT_EQ(j.at("added_tokens").at(0).at("id"), 599);
  EXPECT_EQ(j.at("added_tokens").at(0).at("special"), true);
}

TEST(BpeTrainer, RejectsTooSmallVocab) {
  const std::string m = xomni::test::error_message([] { train_bpe({"abc"}, 256, {"<|x|>"}); });
  EXPECT_NE(m.find("vocab_size 256 is smaller than the 256 byte symbols plus 1 special"),
            std::string::npos)
      << m;
}
