#pragma once
// Text-rendering metrics of the `ocr` reward: OCR output compared with the text a prompt asks for.
//
// OneIG-Bench (github.com/OneIG-Bench/OneIG-Benchmark, scripts/text/text_score.py and
// scripts/text/auc.py), per sample, after preprocess() of both strings:
//   ED  = Levenshtein distance (characters) between OCR text and target text
//   CR  = 1 if ED == 0 else 0                                   (completion rate)
//   WAC = |multiset(target words) ∩ multiset(OCR words)| / |target words|   (word accuracy)
//   text score = 1 - min(M, ED) * (1 - CR) * (1 - WAC) / M
// where the benchmark uses M = MAX_EDIT_DISTANCE = 100 (English) over the averages of ED, CR and
// WAC. A reward is per sample, so M defaults here to the target's length (then a blank image
// scores 0 and exact text 1); `max_edit_distance = 100` in the config gives the benchmark's M.
//   preprocess: drop every character but [A-Za-z0-9] and whitespace, collapse whitespace runs to
//   one space, strip (case is kept).
//
// LongText-Bench (X-Omni's benchmark; its scorer textbench/score.py as ported to
// github.com/flageval-baai/FlagEvalMM, flagevalmm/evaluator/longtext_bench_evaluator.py):
//   text accuracy = |multiset(target words) ∩ multiset(OCR words)| / |target words|
// after the same filtering plus lower-casing (English mode).
#include <string>
#include <string_view>

namespace xomni_ocr {

std::string preprocess_oneig(std::string_view s);     // case kept
std::string preprocess_longtext(std::string_view s);  // lower-cased
size_t levenshtein(std::string_view a, std::string_view b);
// Matched words (multiset intersection) and the target's word count.
void word_matches(std::string_view target, std::string_view ocr, size_t& matched, size_t& total);

struct TextScores {
  double edit_distance = 0;  // ED
  double completion = 0;     // CR
  double word_accuracy = 0;  // WAC
  double oneig = 0;          // OneIG text score with the chosen M
  double longtext = 0;       // LongText-Bench text accuracy
};
// max_edit_distance <= 0: M = the preprocessed target's length (at least 1).
TextScores score_text(std::string_view ocr, std::string_view target, double max_edit_distance);

}  // namespace xomni_ocr
