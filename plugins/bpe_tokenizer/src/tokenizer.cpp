// Byte-level BPE tokenizer: tokenizer.json loading, encode/decode, save.
#include "xomni/bpe/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "xomni/core/error.h"

namespace xomni::bpe {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---- byte-level alphabet ------------------------------------------------------------------

struct ByteTables {
  std::array<char32_t, 256> to_unicode{};
  std::array<std::string, 256> to_utf8{};  // to_unicode[b] encoded as UTF-8
  std::array<int16_t, 512> to_byte{};      // inverse of to_unicode (-1: not in the alphabet)
};

bool printable_byte(int b) {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

const ByteTables& byte_tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    int n = 0;
    t.to_byte.fill(-1);
    for (int b = 0; b < 256; ++b) {
      t.to_unicode[b] = printable_byte(b) ? static_cast<char32_t>(b) : 256 + n++;
      append_utf8(t.to_utf8[b], t.to_unicode[b]);
      t.to_byte[t.to_unicode[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is malformed.
size_t utf8_seq_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  char32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void check_utf8(std::string_view s, const char* what) {
  size_t i = 0;
  while (i < s.size()) {
    // Fast path over ASCII runs.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_seq_len(s, i);
    XOMNI_CHECK(n != 0, what, ": invalid UTF-8 at byte offset ", i);
    i += n;
  }
}

// Decodes one code point at s[i] (valid UTF-8 assumed) and advances i.
char32_t next_cp(std::string_view s, size_t& i) {
  utf8proc_int32_t cp = 0;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  i += n > 0 ? static_cast<size_t>(n) : 1;
  return static_cast<char32_t>(cp);
}

bool is_word_cp(char32_t cp) {
  if (cp == U'_') return true;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

bool is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// ---- JSON helpers -----------------------------------------------------------------------

const json& get_key(const json& obj, const char* key, const std::string& where,
                    const std::string& origin) {
  XOMNI_CHECK(obj.is_object(), origin, ": ", where, " must be an object");
  auto it = obj.find(key);
  XOMNI_CHECK(it != obj.end(), origin, ": missing key '", where.empty() ? "" : where + ".", key,
              "'");
  return *it;
}

std::string get_string(const json& obj, const char* key, const std::string& where,
                       const std::string& origin) {
  const json& v = get_key(obj, key, where, origin);
  XOMNI_CHECK(v.is_string(), origin, ": ", where, ".", key, " must be a string");
  return v.get<std::string>();
}

bool get_bool(const json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  return it->is_boolean() ? it->get<bool>() : fallback;
}

// ---- regex (PCRE2) ------------------------------------------------------------------------

struct Regex {
  pcre2_code* code = nullptr;
  std::string pattern;
  Regex() = default;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code); }
};

std::unique_ptr<Regex> compile_regex(const std::string& pattern, bool literal,
                                     const std::string& where, const std::string& origin) {
  auto re = std::make_unique<Regex>();
  re->pattern = pattern;
  int err = 0;
  PCRE2_SIZE off = 0;
  const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : 0);
  re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err,
                           &off, nullptr);
  if (re->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw Error(detail::concat(origin, ": ", where, ": cannot compile regex at offset ", off, ": ",
                               reinterpret_cast<const char*>(msg)));
  }
  // JIT is only a speed-up; the interpreter gives the same matches when it is unavailable.
  pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
  return re;
}

// GPT-2's regex, used by a ByteLevel pre-tokenizer with use_regex=true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code)
      : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    XOMNI_CHECK(md != nullptr, "bpe tokenizer: out of memory for regex match data");
  }
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

// Split with behavior Isolated: every match and every gap between matches is a piece.
template <typename Fn>
void split_isolated(const Regex& re, std::string_view text, Fn&& emit) {
  MatchData m(re.code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  size_t last = 0;
  while (pos < text.size()) {
    const int rc =
        pcre2_match(re.code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, m.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw Error(detail::concat("bpe tokenizer: regex '", re.pattern, "' failed at byte ", pos,
                                 ": ", reinterpret_cast<const char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
    const size_t s = ov[0], e = ov[1];
    if (e == s) {  // empty match: no piece, step over one code point
      pos = s + std::max<size_t>(1, utf8_seq_len(text, s));
      continue;
    }
    if (s > last) emit(text.substr(last, s - last));
    emit(text.substr(s, e - s));
    last = pos = e;
  }
  if (last < text.size()) emit(text.substr(last));
}

// ---- BPE ----------------------------------------------------------------------------------

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct MergeInfo {
  int32_t rank;
  int32_t new_id;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;
using WordCache =
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;

enum class NormForm { NFC, NFD, NFKC, NFKD };

}  // namespace

char32_t byte_to_unicode(uint8_t b) {
  return byte_tables().to_unicode[b];
}

struct Tokenizer::Impl {
  std::string origin;
  // Model.
  std::vector<std::string> id_token;  // vocabulary string (or added token content) per id
  std::vector<std::string> id_bytes;  // what decode emits per id
  std::vector<uint8_t> id_kind;       // 0 unused, 1 vocabulary, 2 added, 3 added+special
  StringIdMap vocab;                  // vocabulary strings only
  StringIdMap added_by_content;
  std::vector<std::pair<std::string, std::string>> merge_list;
  std::unordered_map<uint64_t, MergeInfo> merges;
  std::array<int32_t, 256> byte_id{};
  bool ignore_merges = false;
  std::vector<AddedToken> added;
  // For each first byte, the added tokens starting with it, longest first.
  std::array<std::vector<int32_t>, 256> added_by_first;
  // Pipeline.
  std::vector<NormForm> norms;
  std::vector<std::unique_ptr<Regex>> splits;
  json normalizer_json, pre_tokenizer_json, decoder_json, post_processor_json;
  // Cache of words already merged.
  mutable std::mutex cache_mutex;
  mutable WordCache cache;

  void load(const json& root);
  void parse_normalizer(const json& n, const std::string& where);
  void parse_pre_tokenizer(const json& p, const std::string& where, bool& have_byte_level);

  std::string normalize(std::string_view text) const;
  template <typename Fn>
  void pre_tokenize(std::string_view normalized, Fn&& emit) const;
  void bpe_word(std::string_view word, std::vector<int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  template <typename Fn>
  void split_added(std::string_view text, bool allow_special, Fn&& on_text,
                   const std::function<void(int32_t)>& on_added) const;
};

void Tokenizer::Impl::parse_normalizer(const json& n, const std::string& where) {
  if (n.is_null()) return;
  const std::string type = get_string(n, "type", where, origin);
  if (type == "Sequence") {
    const json& list = get_key(n, "normalizers", where, origin);
    XOMNI_CHECK(list.is_array(), origin, ": ", where, ".normalizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      parse_normalizer(list[i], detail::concat(where, ".normalizers[", i, "]"));
  } else if (type == "NFC") {
    norms.push_back(NormForm::NFC);
  } else if (type == "NFD") {
    norms.push_back(NormForm::NFD);
  } else if (type == "NFKC") {
    norms.push_back(NormForm::NFKC);
  } else if (type == "NFKD") {
    norms.push_back(NormForm::NFKD);
  } else {
    throw Error(detail::concat(origin, ": ", where, ".type '", type,
                               "' is not supported (NFC, NFD, NFKC, NFKD, Sequence)"));
  }
}

void Tokenizer::Impl::parse_pre_tokenizer(const json& p, const std::string& where,
                                          bool& have_byte_level) {
  if (p.is_null()) return;
  const std::string type = get_string(p, "type", where, origin);
  if (type == "Sequence") {
    const json& list = get_key(p, "pretokenizers", where, origin);
    XOMNI_CHECK(list.is_array(), origin, ": ", where, ".pretokenizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(list[i], detail::concat(where, ".pretokenizers[", i, "]"),
                          have_byte_level);
  } else if (type == "Split") {
    XOMNI_CHECK(!have_byte_level, origin, ": ", where,
                ": a Split after the ByteLevel step is not supported");
    const std::string behavior = get_string(p, "behavior", where, origin);
    XOMNI_CHECK(behavior == "Isolated", origin, ": ", where, ".behavior '", behavior,
                "' is not supported (only Isolated)");
    XOMNI_CHECK(!get_bool(p, "invert", false), origin, ": ", where,
                ".invert=true is not supported");
    const json& pat = get_key(p, "pattern", where, origin);
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      splits.push_back(
          compile_regex(pat["Regex"].get<std::string>(), false, where + ".pattern.Regex", origin));
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      splits.push_back(
          compile_regex(pat["String"].get<std::string>(), true, where + ".pattern.String", origin));
    } else {
      throw Error(detail::concat(origin, ": ", where,
                                 ".pattern must be {\"Regex\": ...} or {\"String\": ...}"));
    }
  } else if (type == "ByteLevel") {
    XOMNI_CHECK(!get_bool(p, "add_prefix_space", false), origin, ": ", where,
                ".add_prefix_space=true is not supported");
    if (get_bool(p, "use_regex", true))
      splits.push_back(compile_regex(kGpt2Pattern, false, where + " (GPT-2 regex)", origin));
    have_byte_level = true;
  } else {
    throw Error(detail::concat(origin, ": ", where, ".type '", type,
                               "' is not supported (Sequence, Split, ByteLevel)"));
  }
}

void Tokenizer::Impl::load(const json& root) {
  XOMNI_CHECK(root.is_object(), origin, ": the top level must be a JSON object");
  // Model.
  const json& model = get_key(root, "model", "", origin);
  XOMNI_CHECK(model.is_object(), origin, ": model must be an object");
  if (model.contains("type")) {
    const std::string type = get_string(model, "type", "model", origin);
    XOMNI_CHECK(type == "BPE", origin, ": model.type '", type, "' is not supported (only BPE)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    XOMNI_CHECK(
        it == model.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()),
        origin, ": model.", key, " must be empty (not supported)");
  }
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null())
    XOMNI_CHECK(it->is_number() && it->get<double>() == 0.0, origin,
                ": model.dropout is not supported");
  ignore_merges = get_bool(model, "ignore_merges", false);

  const json& vocab_json = get_key(model, "vocab", "model", origin);
  XOMNI_CHECK(vocab_json.is_object(), origin, ": model.vocab must be an object {token: id}");
  auto ensure_id = [&](int64_t id, const std::string& where) {
    XOMNI_CHECK(id >= 0 && id < (int64_t{1} << 30), origin, ": ", where, ": id ", id,
                " is out of range");
    if (static_cast<size_t>(id) >= id_kind.size()) {
      id_kind.resize(id + 1, 0);
      id_token.resize(id + 1);
      id_bytes.resize(id + 1);
    }
  };
  const ByteTables& bt = byte_tables();
  vocab.reserve(vocab_json.size());
  id_kind.reserve(vocab_json.size() + 1024);
  id_token.reserve(vocab_json.size() + 1024);
  id_bytes.reserve(vocab_json.size() + 1024);
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    auto where = [&] { return "model.vocab[\"" + it.key() + "\"]"; };
    XOMNI_CHECK(it->is_number_integer(), origin, ": ", where(), " must be an integer id");
    const int64_t id = it->get<int64_t>();
    if (id < 0 || static_cast<size_t>(id) >= id_kind.size()) ensure_id(id, where());
    XOMNI_CHECK(id_kind[id] == 0, origin, ": ", where(), ": id ", id, " is used twice");
    id_kind[id] = 1;
    id_token[id] = it.key();
    vocab.emplace(it.key(), static_cast<int32_t>(id));
    // The bytes this token stands for (a token outside the byte alphabet decodes as itself).
    std::string bytes;
    std::string_view s = it.key();
    size_t i = 0;
    bool ok = true;
    while (i < s.size()) {
      const size_t n = utf8_seq_len(s, i);
      if (n == 0) {
        ok = false;
        break;
      }
      const char32_t cp = next_cp(s, i);
      if (cp >= bt.to_byte.size() || bt.to_byte[cp] < 0) {
        ok = false;
        break;
      }
      bytes += static_cast<char>(bt.to_byte[cp]);
    }
    id_bytes[id] = ok ? bytes : it.key();
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(bt.to_utf8[b]);
    XOMNI_CHECK(it != vocab.end(), origin, ": model.vocab lacks the byte-level symbol '",
                bt.to_utf8[b], "' of byte ", b);
    byte_id[b] = it->second;
  }

  const json& merges_json = get_key(model, "merges", "model", origin);
  XOMNI_CHECK(merges_json.is_array(), origin, ": model.merges must be an array");
  merge_list.reserve(merges_json.size());
  merges.reserve(merges_json.size() * 2);
  for (size_t r = 0; r < merges_json.size(); ++r) {
    const json& m = merges_json[r];
    auto where = [r] { return detail::concat("model.merges[", r, "]"); };
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      XOMNI_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < s.size() &&
                      s.find(' ', sp + 1) == std::string::npos,
                  origin, ": ", where(), " = \"", s,
                  "\" must be two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(detail::concat(origin, ": ", where(), " must be \"a b\" or [\"a\", \"b\"]"));
    }
    auto ia = vocab.find(a), ib = vocab.find(b), ic = vocab.find(a + b);
    XOMNI_CHECK(ia != vocab.end(), origin, ": ", where(), ": token '", a,
                "' is not in model.vocab");
    XOMNI_CHECK(ib != vocab.end(), origin, ": ", where(), ": token '", b,
                "' is not in model.vocab");
    XOMNI_CHECK(ic != vocab.end(), origin, ": ", where(), ": merged token '", a + b,
                "' is not in model.vocab");
    // The first (lowest rank) occurrence of a pair wins, as in Hugging Face tokenizers.
    merges.emplace(pair_key(ia->second, ib->second),
                   MergeInfo{static_cast<int32_t>(r), ic->second});
    merge_list.emplace_back(std::move(a), std::move(b));
  }

  // Added tokens.
  if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    XOMNI_CHECK(it->is_array(), origin, ": added_tokens must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      const std::string where = detail::concat("added_tokens[", i, "]");
      const json& idj = get_key(t, "id", where, origin);
      XOMNI_CHECK(idj.is_number_integer(), origin, ": ", where, ".id must be an integer");
      AddedToken a;
      a.id = static_cast<int32_t>(idj.get<int64_t>());
      a.content = get_string(t, "content", where, origin);
      XOMNI_CHECK(!a.content.empty(), origin, ": ", where, ".content is empty");
      check_utf8(a.content, (origin + ": " + where + ".content").c_str());
      a.special = get_bool(t, "special", false);
      a.single_word = get_bool(t, "single_word", false);
      a.lstrip = get_bool(t, "lstrip", false);
      a.rstrip = get_bool(t, "rstrip", false);
      a.normalized = get_bool(t, "normalized", !a.special);
      ensure_id(idj.get<int64_t>(), where + ".id");
      // An added token may repeat a vocabulary entry with the same content.
      XOMNI_CHECK(id_kind[a.id] == 0 || (id_kind[a.id] == 1 && id_token[a.id] == a.content), origin,
                  ": ", where, ": id ", a.id, " is already used by '", id_token[a.id], "'");
      XOMNI_CHECK(!added_by_content.contains(a.content), origin, ": ", where, ": content '",
                  a.content, "' appears twice");
      id_kind[a.id] = a.special ? 3 : 2;
      id_token[a.id] = a.content;
      id_bytes[a.id] = a.content;
      added_by_content.emplace(a.content, a.id);
      added.push_back(std::move(a));
    }
  }
  for (size_t i = 0; i < added.size(); ++i)
    added_by_first[static_cast<unsigned char>(added[i].content[0])].push_back(
        static_cast<int32_t>(i));
  for (auto& list : added_by_first)
    std::stable_sort(list.begin(), list.end(), [&](int32_t x, int32_t y) {
      return added[x].content.size() > added[y].content.size();
    });

  // Pipeline.
  if (auto it = root.find("normalizer"); it != root.end()) {
    normalizer_json = *it;
    parse_normalizer(*it, "normalizer");
  }
  bool have_byte_level = false;
  if (auto it = root.find("pre_tokenizer"); it != root.end()) {
    pre_tokenizer_json = *it;
    parse_pre_tokenizer(*it, "pre_tokenizer", have_byte_level);
  }
  XOMNI_CHECK(have_byte_level, origin,
              ": pre_tokenizer must contain a ByteLevel step (only byte-level BPE is supported)");
  if (auto it = root.find("decoder"); it != root.end() && !it->is_null()) {
    decoder_json = *it;
    const std::string type = get_string(*it, "type", "decoder", origin);
    XOMNI_CHECK(type == "ByteLevel", origin, ": decoder.type '", type,
                "' is not supported (only ByteLevel)");
  }
  if (auto it = root.find("post_processor"); it != root.end()) post_processor_json = *it;
}

std::string Tokenizer::Impl::normalize(std::string_view text) const {
  std::string s(text);
  if (norms.empty()) return s;
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return s;  // every normal form of ASCII is itself
  for (NormForm f : norms) {
    int opts = UTF8PROC_STABLE;
    switch (f) {
      case NormForm::NFC:
        opts |= UTF8PROC_COMPOSE;
        break;
      case NormForm::NFD:
        opts |= UTF8PROC_DECOMPOSE;
        break;
      case NormForm::NFKC:
        opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
      case NormForm::NFKD:
        opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    if (s.empty()) return s;
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            static_cast<utf8proc_ssize_t>(s.size()), &out,
                                            static_cast<utf8proc_option_t>(opts));
    XOMNI_CHECK(n >= 0, "bpe tokenizer: normalization failed: ", utf8proc_errmsg(n));
    s.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }
  return s;
}

template <typename Fn>
void Tokenizer::Impl::pre_tokenize(std::string_view normalized, Fn&& emit) const {
  if (splits.empty()) {
    if (!normalized.empty()) emit(normalized);
    return;
  }
  if (splits.size() == 1) {
    split_isolated(*splits[0], normalized, emit);
    return;
  }
  std::vector<std::string_view> pieces{normalized}, next;
  for (const auto& re : splits) {
    next.clear();
    for (std::string_view p : pieces)
      split_isolated(*re, p, [&](std::string_view q) { next.push_back(q); });
    pieces.swap(next);
  }
  for (std::string_view p : pieces) emit(p);
}

// Merges the byte symbols of one word by rank (lowest first, leftmost among equal ranks), as
// Hugging Face tokenizers' Word::merge_all does.
void Tokenizer::Impl::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id, prev, next;
  };
  struct Cand {
    int32_t rank, pos, new_id;
  };
  const int32_t n = static_cast<int32_t>(word.size());
  std::vector<Sym> sym(n);
  for (int32_t i = 0; i < n; ++i)
    sym[i] = {byte_id[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  auto later = [](const Cand& x, const Cand& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  std::vector<Cand> heap;
  heap.reserve(n);
  auto push = [&](int32_t pos) {
    const int32_t nx = sym[pos].next;
    if (nx < 0) return;
    auto it = merges.find(pair_key(sym[pos].id, sym[nx].id));
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, pos, it->second.new_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Cand c = heap.back();
    heap.pop_back();
    Sym& s = sym[c.pos];
    if (s.id < 0 || s.next < 0) continue;
    auto it = merges.find(pair_key(s.id, sym[s.next].id));
    if (it == merges.end() || it->second.new_id != c.new_id) continue;
    const int32_t nx = s.next;
    s.id = c.new_id;
    s.next = sym[nx].next;
    sym[nx].id = -1;
    if (s.next >= 0) sym[s.next].prev = c.pos;
    if (s.prev >= 0) push(s.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) out.push_back(sym[i].id);
}

void Tokenizer::Impl::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_id[static_cast<unsigned char>(word[0])]);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  if (ignore_merges) {
    std::string mapped;
    for (char c : word) mapped += byte_tables().to_utf8[static_cast<unsigned char>(c)];
    if (auto it = vocab.find(mapped); it != vocab.end()) ids.push_back(it->second);
  }
  if (ids.empty()) merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() >= (size_t{1} << 18)) cache.clear();  // bound the memory
  cache.emplace(std::string(word), std::move(ids));
}

// Calls on_text for the text between added tokens and on_added for each added token id.
template <typename Fn>
void Tokenizer::Impl::split_added(std::string_view text, bool allow_special, Fn&& on_text,
                                  const std::function<void(int32_t)>& on_added) const {
  size_t start = 0;  // start of the pending plain text
  size_t i = 0;
  while (i < text.size()) {
    const auto& cands = added_by_first[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (int32_t k : cands) {
      const AddedToken& a = added[k];
      if (a.special && !allow_special) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.single_word) {
        size_t j = i;
        bool ok = true;
        if (i > 0) {  // the code point before
          size_t b = i - 1;
          while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
          size_t bb = b;
          ok &= !is_word_cp(next_cp(text, bb));
        }
        j = i + a.content.size();
        if (ok && j < text.size()) ok &= !is_word_cp(next_cp(text, j));
        if (!ok) continue;
      }
      hit = &a;
      break;  // candidates are sorted longest first
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t s = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (s > start && is_space_byte(text[s - 1])) --s;
    if (hit->rstrip)
      while (e < text.size() && is_space_byte(text[e])) ++e;
    if (s > start) on_text(text.substr(start, s - start));
    on_added(hit->id);
    start = i = e;
  }
  if (start < text.size()) on_text(text.substr(start));
}

// ---- Tokenizer ----------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(detail::concat(origin, ": not valid JSON: ", e.what()));
  }
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;
  try {
    impl->load(root);
  } catch (const json::exception& e) {
    throw Error(detail::concat(origin, ": unexpected JSON value: ", e.what()));
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in.good(), "bpe tokenizer: cannot open '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), path);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  check_utf8(text, "bpe tokenizer: encode input");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  impl_->split_added(
      text, allow_special,
      [&](std::string_view plain) {
        const std::string norm = impl_->normalize(plain);
        impl_->pre_tokenize(norm, [&](std::string_view w) { impl_->bpe_word(w, ids); });
      },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    XOMNI_CHECK(
        id >= 0 && static_cast<size_t>(id) < impl_->id_kind.size() && impl_->id_kind[id] != 0,
        "bpe tokenizer: decode: unknown id ", id, " at position ", i);
    if (skip_special && impl_->id_kind[id] == 3) continue;
    out += impl_->id_bytes[id];
  }
  return out;
}

std::string Tokenizer::normalize(std::string_view text) const {
  check_utf8(text, "bpe tokenizer: normalize input");
  return impl_->normalize(text);
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const {
  check_utf8(text, "bpe tokenizer: pre_tokenize input");
  const std::string norm = impl_->normalize(text);
  std::vector<std::string> out;
  impl_->pre_tokenize(norm, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->id_kind.size());
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end())
    return it->second;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  XOMNI_CHECK(id >= 0 && static_cast<size_t>(id) < impl_->id_kind.size() && impl_->id_kind[id] != 0,
              "bpe tokenizer: unknown id ", id);
  return impl_->id_token[id];
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added;
}

const std::vector<std::pair<std::string, std::string>>& Tokenizer::merges() const {
  return impl_->merge_list;
}

std::string Tokenizer::to_json() const {
  const Impl& m = *impl_;
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ordered_json added = ordered_json::array();
  for (const AddedToken& a : m.added) {
    ordered_json t;
    t["id"] = a.id;
    t["content"] = a.content;
    t["single_word"] = a.single_word;
    t["lstrip"] = a.lstrip;
    t["rstrip"] = a.rstrip;
    t["normalized"] = a.normalized;
    t["special"] = a.special;
    added.push_back(std::move(t));
  }
  root["added_tokens"] = std::move(added);
  auto as_ordered = [](const json& j) { return ordered_json::parse(j.dump()); };
  root["normalizer"] = as_ordered(m.normalizer_json);
  root["pre_tokenizer"] = as_ordered(m.pre_tokenizer_json);
  root["post_processor"] = as_ordered(m.post_processor_json);
  root["decoder"] = as_ordered(m.decoder_json);
  ordered_json model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = "";
  model["end_of_word_suffix"] = "";
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = m.ignore_merges;
  ordered_json vocab = ordered_json::object();
  std::vector<std::pair<int32_t, std::string_view>> by_id;
  by_id.reserve(m.vocab.size());
  for (const auto& [token, id] : m.vocab) by_id.emplace_back(id, token);
  std::sort(by_id.begin(), by_id.end());
  for (const auto& [id, token] : by_id) vocab[std::string(token)] = id;
  model["vocab"] = std::move(vocab);
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : m.merge_list) merges.push_back(ordered_json::array({a, b}));
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  return root.dump(2);
}

void Tokenizer::save(const std::string& path) const {
  const std::string text = to_json();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  XOMNI_CHECK(out.good(), "bpe tokenizer: cannot write '", path, "'");
  out << text << '\n';
  out.close();
  XOMNI_CHECK(out.good(), "bpe tokenizer: writing '", path, "' failed");
}

}  // namespace xomni::bpe
