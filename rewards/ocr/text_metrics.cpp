#include "text_metrics.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <vector>

namespace xomni_ocr {
namespace {

// Keeps ASCII letters and digits, turns whitespace runs into one space, strips both ends. Other
// bytes (punctuation, non-ASCII) are dropped, as the benchmarks' regex does for English text.
std::string filter(std::string_view s, bool lower) {
  std::string out;
  bool pending_space = false;
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isspace(c)) {
      pending_space = !out.empty();
    } else if (c < 128 && std::isalnum(c)) {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.push_back(lower ? char(std::tolower(c)) : char(c));
    }
  }
  return out;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> words;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

}  // namespace

std::string preprocess_oneig(std::string_view s) {
  return filter(s, false);
}
std::string preprocess_longtext(std::string_view s) {
  return filter(s, true);
}

size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

void word_matches(std::string_view target, std::string_view ocr, size_t& matched, size_t& total) {
  std::map<std::string, size_t> want;
  const std::vector<std::string> t = split_words(target);
  for (const std::string& w : t) ++want[w];
  matched = 0;
  for (const std::string& w : split_words(ocr)) {
    auto it = want.find(w);
    if (it != want.end() && it->second > 0) {
      --it->second;
      ++matched;
    }
  }
  total = t.size();
}

TextScores score_text(std::string_view ocr, std::string_view target, double max_edit_distance) {
  TextScores s;
  const std::string o = preprocess_oneig(ocr), t = preprocess_oneig(target);
  s.edit_distance = double(levenshtein(o, t));
  s.completion = s.edit_distance == 0 ? 1.0 : 0.0;
  size_t matched = 0, total = 0;
  word_matches(t, o, matched, total);
  s.word_accuracy = total ? double(matched) / double(total) : 0.0;
  const double m =
      max_edit_distance > 0 ? max_edit_distance : double(std::max<size_t>(t.size(), 1));
  s.oneig = 1.0 - std::min(m, s.edit_distance) * (1.0 - s.completion) * (1.0 - s.word_accuracy) / m;
  const std::string lo = preprocess_longtext(ocr), lt = preprocess_longtext(target);
  word_matches(lt, lo, matched, total);
  s.longtext = total ? double(matched) / double(total) : 0.0;
  return s;
}

}  // namespace xomni_ocr
