#pragma once
// Internals of the byte-level BPE tokenizer shared by its source files: the byte-level alphabet
// and UTF-8 helpers, JSON accessors with located errors, PCRE2 wrappers, merge tables, and
// Tokenizer::Impl. Not installed.
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

#include "xomni/bpe/tokenizer.h"
#include "xomni/core/tensor/error.h"

namespace xomni::bpe {
namespace internal {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---- byte-level alphabet ------------------------------------------------------------------

struct ByteTables {
  std::array<char32_t, 256> to_unicode{};
  std::array<std::string, 256> to_utf8{};  // to_unicode[b] encoded as UTF-8
  std::array<int16_t, 512> to_byte{};      // inverse of to_unicode (-1: not in the alphabet)
};

inline bool printable_byte(int b) {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}

inline void append_utf8(std::string& out, char32_t cp) {
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

inline const ByteTables& byte_tables() {
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
inline size_t utf8_seq_len(std::string_view s, size_t i) {
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

inline void check_utf8(std::string_view s, const char* what) {
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
inline char32_t next_cp(std::string_view s, size_t& i) {
  utf8proc_int32_t cp = 0;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  i += n > 0 ? static_cast<size_t>(n) : 1;
  return static_cast<char32_t>(cp);
}

inline bool is_word_cp(char32_t cp) {
  if (cp == U'_') return true;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

inline bool is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// ---- JSON helpers -----------------------------------------------------------------------

inline const json& get_key(const json& obj, const char* key, const std::string& where,
                           const std::string& origin) {
  XOMNI_CHECK(obj.is_object(), origin, ": ", where, " must be an object");
  auto it = obj.find(key);
  XOMNI_CHECK(it != obj.end(), origin, ": missing key '", where.empty() ? "" : where + ".", key,
              "'");
  return *it;
}

inline std::string get_string(const json& obj, const char* key, const std::string& where,
                              const std::string& origin) {
  const json& v = get_key(obj, key, where, origin);
  XOMNI_CHECK(v.is_string(), origin, ": ", where, ".", key, " must be a string");
  return v.get<std::string>();
}

inline bool get_bool(const json& obj, const char* key, bool fallback) {
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

inline std::unique_ptr<Regex> compile_regex(const std::string& pattern, bool literal,
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
inline constexpr const char* kGpt2Pattern =
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

inline uint64_t pair_key(int32_t a, int32_t b) {
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

}  // namespace internal

using namespace internal;

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

}  // namespace xomni::bpe
