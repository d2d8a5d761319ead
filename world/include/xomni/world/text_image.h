#pragma once
// Rendered text: words and lines on coloured signs (a background, a sign rectangle of another
// colour, text in a contrasting colour), drawn with Cairo in the DejaVu fonts. Each sample is a
// pure function of (seed, index, options); its metadata holds the exact text, so the OCR reward
// and the text-rendering benchmarks can score an image made for its captions.
//
// Buckets (as LongText-Bench): "short" = 1-3 words on one line, 256x64 by default (Tesseract reads
// clean renders of that size exactly, docs/PERF.md); "long" = 8-16 words wrapped over several
// lines, 512x256 by default.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/io/image.h"

namespace xomni::world {

struct TextImageOptions {
  std::string bucket = "short";      // "short" or "long"
  int64_t width = 0, height = 0;     // 0: the bucket's default size
  bool textured_background = false;  // noise on the background around the sign (never on it)
};

// What one text image shows; sample_text_spec draws it, render_text draws the pixels.
struct TextSpec {
  std::string text;  // the words joined by single spaces
  std::vector<std::string> words;
  std::string bucket;
  std::string family;  // "DejaVu Sans" or "DejaVu Serif"
  bool bold = false;
  std::string background, sign, ink;       // colour names (text_colours())
  double margin_x = 0.05, margin_y = 0.1;  // sign inset, as fractions of the image size
  bool textured_background = false;
  uint64_t texture_seed = 0;
  std::string font() const { return family + (bold ? " Bold" : ""); }
};

struct NamedColour {
  std::string name;
  uint8_t r, g, b;
};
// A bucket's default {width, height}: 256x64 for "short", 512x256 for "long".
std::pair<int64_t, int64_t> default_text_size(const std::string& bucket);

// The palette text images draw from; names are what captions and VQA answers use.
const std::vector<NamedColour>& text_colours();
// The built-in word list (common English words, lower case).
const std::vector<std::string>& text_words();

TextSpec sample_text_spec(uint64_t seed, int64_t index, const TextImageOptions& options = {});
// Renders `spec` at width x height (0: the bucket's default). The text shrinks to fit the sign;
// long text wraps into lines.
Image render_text(const TextSpec& spec, int64_t width = 0, int64_t height = 0);
// The whole sample: kind "text", metadata {"text", "bucket", "font", "colours": {"background",
// "sign", "text"}, "words", "lines"}, captions (short prompt first, then a dense caption; every
// caption quotes the text exactly) and VQA pairs (the text, the sign/text/background colours,
// the number of words).
ImageSample generate_text_image(uint64_t seed, int64_t index, const TextImageOptions& options = {});

// The lines render_text draws for `spec` (long text wraps by measured width; short is one line).
std::vector<std::string> text_lines(const TextSpec& spec, int64_t width = 0, int64_t height = 0);

}  // namespace xomni::world
