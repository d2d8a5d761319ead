// Text images: words on coloured signs, drawn with Cairo's toy text API (fontconfig finds the
// DejaVu fonts), then copied out of the Cairo surface into an xomni::Image.
#include "xomni/world/text_image.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "philox_draws.h"
#include "xomni/core/tensor/error.h"

namespace xomni::world {

std::pair<int64_t, int64_t> default_text_size(const std::string& bucket) {
  return bucket == "short" ? std::pair<int64_t, int64_t>{256, 64}
                           : std::pair<int64_t, int64_t>{512, 256};
}

namespace {

constexpr uint64_t kTextStream = 0x7465787431ull;  // "text1"
// Grey-level distance (0.299 r + 0.587 g + 0.114 b, as the OCR reward converts) required between
// the sign and its text: OCR reads grey levels, so hue alone does not make text legible.
constexpr double kMinInkContrast = 110.0;
constexpr double kMaxBackgroundGap = 50.0;

double grey(const NamedColour& c) {
  return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
}

const NamedColour& colour(const std::string& name) {
  for (const auto& c : text_colours())
    if (c.name == name) return c;
  throw Error("text image: unknown colour '" + name + "'");
}

struct Size {
  int64_t w, h;
};
Size bucket_size(const std::string& bucket, int64_t w, int64_t h) {
  XOMNI_CHECK(bucket == "short" || bucket == "long", "text image: bucket must be 'short' or ",
              "'long', got '", bucket, "'");
  XOMNI_CHECK(w >= 0 && h >= 0, "text image: negative size ", w, "x", h);
  const auto [dw, dh] = default_text_size(bucket);
  return {w ? w : dw, h ? h : dh};
}

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using ContextPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

struct Layout {
  double font_size = 0;
  std::vector<std::string> lines;
  double sx = 0, sy = 0, sw = 0, sh = 0;  // the sign rectangle
};

void set_font(cairo_t* cr, const TextSpec& spec, double size) {
  cairo_select_font_face(cr, spec.family.c_str(), CAIRO_FONT_SLANT_NORMAL,
                         spec.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Greedy wrap of `words` into lines no wider than `max_w` at the current font.
std::vector<std::string> wrap(cairo_t* cr, const std::vector<std::string>& words, double max_w) {
  std::vector<std::string> lines;
  std::string line;
  for (const auto& w : words) {
    const std::string cand = line.empty() ? w : line + " " + w;
    if (!line.empty() && text_width(cr, cand) > max_w) {
      lines.push_back(line);
      line = w;
    } else {
      line = cand;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

Layout layout(cairo_t* cr, const TextSpec& spec, Size size) {
  Layout L;
  L.sx = std::round(size.w * spec.margin_x), L.sy = std::round(size.h * spec.margin_y);
  L.sw = size.w - 2 * L.sx, L.sh = size.h - 2 * L.sy;
  const double max_w = 0.84 * L.sw, max_h = 0.86 * L.sh;
  if (spec.bucket == "short") {
    L.lines = {spec.text};
    L.font_size = 0.7 * L.sh;
    set_font(cr, spec, L.font_size);
    const double w = text_width(cr, spec.text);
    if (w > max_w) L.font_size *= max_w / w;
    return L;
  }
  // Long: the largest size (capped for a readable line count) whose wrapped lines fit the sign.
  for (double fs = std::min(28.0, 0.3 * L.sh); fs >= 6.0; fs -= 1.0) {
    set_font(cr, spec, fs);
    auto lines = wrap(cr, spec.words, max_w);
    bool fits = double(lines.size()) * 1.3 * fs <= max_h;
    for (const auto& l : lines) fits = fits && text_width(cr, l) <= max_w;
    L.font_size = fs, L.lines = std::move(lines);
    if (fits) break;
  }
  return L;
}

void set_colour(cairo_t* cr, const NamedColour& c) {
  cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

std::string capitalise(std::string w) {
  if (!w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = char(w[0] - 'a' + 'A');
  return w;
}
std::string upper(std::string w) {
  for (char& c : w)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return w;
}

}  // namespace

const std::vector<NamedColour>& text_colours() {
  static const std::vector<NamedColour> k = {
      {"red", 210, 35, 35},     {"green", 30, 140, 60},   {"blue", 35, 75, 200},
      {"yellow", 250, 215, 40}, {"orange", 245, 140, 30}, {"purple", 120, 50, 160},
      {"pink", 245, 150, 190},  {"brown", 120, 75, 35},   {"white", 250, 250, 250},
      {"black", 20, 20, 20},    {"gray", 128, 128, 128},  {"cyan", 60, 200, 220},
  };
  return k;
}

const std::vector<std::string>& text_words() {
  static const std::vector<std::string> k = {
      "open",    "closed",   "hours",    "sale",     "today",   "fresh",   "coffee",    "bread",
      "market",  "store",    "exit",     "entrance", "welcome", "home",    "garden",    "park",
      "street",  "road",     "city",     "river",    "station", "train",   "bus",       "stop",
      "parking", "only",     "free",     "new",      "hot",     "cold",    "water",     "food",
      "pizza",   "books",    "music",    "school",   "library", "museum",  "hotel",     "bank",
      "post",    "office",   "north",    "south",    "east",    "west",    "left",      "right",
      "keep",    "out",      "danger",   "caution",  "slow",    "fast",    "please",    "thank",
      "you",     "good",     "morning",  "night",    "day",     "week",    "year",      "time",
      "love",    "life",     "world",    "star",     "moon",    "sun",     "rain",      "snow",
      "winter",  "summer",   "spring",   "autumn",   "green",   "blue",    "red",       "yellow",
      "black",   "white",    "house",    "table",    "chair",   "window",  "door",      "light",
      "dark",    "happy",    "birthday", "party",    "dinner",  "lunch",   "breakfast", "menu",
      "special", "offer",    "best",     "price",    "shop",    "gift",    "flower",    "tree",
      "forest",  "mountain", "lake",     "beach",    "ocean",   "island",  "bridge",    "tower",
      "castle",  "king",     "queen",    "dragon",   "tiger",   "horse",   "bird",      "fish",
      "cat",     "dog",      "apple",    "orange",   "lemon",   "cherry",  "grape",     "honey",
      "sugar",   "salt",     "tea",      "milk",     "juice",   "cake",    "cookie",    "candy",
      "ice",     "cream",    "soup",     "salad",    "grill",   "kitchen", "room",      "floor",
      "level",   "gate",     "platform", "airport",  "ticket",  "travel",  "news",      "letter",
      "story",   "dream",    "magic",    "silver",   "golden",  "paint",   "color",     "wood",
      "stone",   "metal",    "glass",    "clean",    "quiet",   "zone",    "area",      "center",
      "public",  "private",  "staff",    "service",  "repair",  "auto",    "garage",    "wash",
      "laundry", "pharmacy", "doctor",   "health",   "sport",   "club",    "team",      "game",
      "play",    "win",      "learn",    "read",     "write",   "think",   "build",     "make",
      "grow",    "fly",      "run",      "walk",     "ride",    "drive",   "sail",      "swim",
      "climb",   "jump",     "dance",    "sing",     "smile",   "hello",   "goodbye",   "friends",
      "family",  "people",   "place",    "simple",   "strong",  "bright",  "great",     "little",
      "big",     "small",    "long",     "short",    "high",    "low",     "first",     "last",
      "next",    "every",    "always",   "never",    "more",    "less",    "all",       "under",
      "over",    "around",   "between",  "inside",   "outside",
  };
  return k;
}

TextSpec sample_text_spec(uint64_t seed, int64_t index, const TextImageOptions& options) {
  bucket_size(options.bucket, options.width, options.height);  // checks the bucket
  PhiloxDraws d(seed, kTextStream + (options.bucket == "long" ? 1 : 0), index);
  TextSpec s;
  s.bucket = options.bucket;
  s.textured_background = options.textured_background;
  const bool is_short = s.bucket == "short";
  const int64_t n = is_short ? (d.chance(0.35) ? 1 : d.chance(0.6) ? 2 : 3) : d.between(8, 16);
  // Case style: signs are often capitals; long text reads as a sentence.
  const double u = d.unit();
  const int style = is_short ? (u < 0.6 ? 0 : u < 0.85 ? 1 : 2) : (u < 0.25 ? 0 : 3);
  for (int64_t i = 0; i < n; ++i) {
    std::string w = d.pick(text_words());
    if (is_short && d.chance(0.08)) w = std::to_string(d.between(1, 999));
    if (style == 0) w = upper(w);
    if (style == 1 || (style == 3 && i == 0)) w = capitalise(w);
    s.words.push_back(w);
    if (i) s.text += ' ';
    s.text += w;
  }
  s.family = d.chance(0.5) ? "DejaVu Sans" : "DejaVu Serif";
  s.bold = d.chance(0.5);
  const auto& pal = text_colours();
  // The background differs from the sign in colour but not much in grey level: Tesseract
  // binarises the whole image, and a sign edge of high contrast reads as a stroke ('|', quotes)
  // or takes the threshold away from the text.
  auto backgrounds = [&](const NamedColour& sign, const NamedColour& ink) {
    std::vector<NamedColour> out;
    for (const auto& c : pal)
      if (c.name != sign.name && std::abs(grey(c) - grey(sign)) <= kMaxBackgroundGap &&
          std::abs(grey(c) - grey(ink)) >= kMinInkContrast)
        out.push_back(c);
    return out;
  };
  auto inks_for = [&](const NamedColour& sign) {
    std::vector<NamedColour> out;
    for (const auto& c : pal)
      if (std::abs(grey(c) - grey(sign)) >= kMinInkContrast && !backgrounds(sign, c).empty())
        out.push_back(c);
    return out;
  };
  std::vector<NamedColour> signs;
  for (const auto& c : pal)
    if (!inks_for(c).empty()) signs.push_back(c);
  const NamedColour& sign = d.pick(signs);
  const auto inks = inks_for(sign);
  const NamedColour& ink = d.pick(inks);
  s.sign = sign.name;
  s.ink = ink.name;
  s.background = d.pick(backgrounds(sign, ink)).name;
  s.margin_x = 0.03 + 0.05 * d.unit();
  s.margin_y = is_short ? 0.06 + 0.08 * d.unit() : 0.04 + 0.05 * d.unit();
  s.texture_seed = d.next() | (uint64_t(d.next()) << 32);
  return s;
}

std::vector<std::string> text_lines(const TextSpec& spec, int64_t width, int64_t height) {
  const Size size = bucket_size(spec.bucket, width, height);
  SurfacePtr surf(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1), cairo_surface_destroy);
  ContextPtr cr(cairo_create(surf.get()), cairo_destroy);
  return layout(cr.get(), spec, size).lines;
}

Image render_text(const TextSpec& spec, int64_t width, int64_t height) {
  const Size size = bucket_size(spec.bucket, width, height);
  SurfacePtr surf(cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(size.w), int(size.h)),
                  cairo_surface_destroy);
  XOMNI_CHECK(cairo_surface_status(surf.get()) == CAIRO_STATUS_SUCCESS,
              "text image: cannot create a ", size.w, "x", size.h, " Cairo surface");
  ContextPtr cr(cairo_create(surf.get()), cairo_destroy);
  cairo_t* c = cr.get();
  const Layout L = layout(c, spec, size);
  set_colour(c, colour(spec.background));
  cairo_paint(c);
  set_colour(c, colour(spec.sign));
  cairo_rectangle(c, L.sx, L.sy, L.sw, L.sh);
  cairo_fill(c);
  set_colour(c, colour(spec.ink));
  set_font(c, spec, L.font_size);
  cairo_font_extents_t fe;
  cairo_font_extents(c, &fe);
  // Lines centred horizontally; the block centred vertically on cap height for one line.
  const double line_h = spec.bucket == "short" ? 0.0 : 1.3 * L.font_size;
  double y0;
  if (L.lines.size() == 1) {
    cairo_text_extents_t e;
    cairo_text_extents(c, "H", &e);
    y0 = L.sy + (L.sh - e.height) / 2 - e.y_bearing;
  } else {
    const double block = line_h * double(L.lines.size() - 1) + fe.ascent;
    y0 = L.sy + (L.sh - block) / 2 + fe.ascent * 0.9;
  }
  for (size_t i = 0; i < L.lines.size(); ++i) {
    cairo_text_extents_t e;
    cairo_text_extents(c, L.lines[i].c_str(), &e);
    cairo_move_to(c, L.sx + (L.sw - e.x_advance) / 2, y0 + double(i) * line_h);
    cairo_show_text(c, L.lines[i].c_str());
  }
  cairo_surface_flush(surf.get());
  const unsigned char* data = cairo_image_surface_get_data(surf.get());
  const int stride = cairo_image_surface_get_stride(surf.get());
  Image img;
  img.width = size.w, img.height = size.h;
  img.rgb.resize(size_t(3 * size.w * size.h));
  for (int64_t y = 0; y < size.h; ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + y * stride);
    for (int64_t x = 0; x < size.w; ++x) {
      const uint32_t p = row[x];  // 0x00RRGGBB in native byte order
      uint8_t* q = img.at(x, y);
      q[0] = uint8_t(p >> 16), q[1] = uint8_t(p >> 8), q[2] = uint8_t(p);
    }
  }
  if (spec.textured_background) {
    // Per-pixel noise outside the sign only, so the text stays as legible as on a flat ground.
    PhiloxDraws d(spec.texture_seed, kTextStream + 7, 0);
    for (int64_t y = 0; y < size.h; ++y)
      for (int64_t x = 0; x < size.w; ++x) {
        if (x >= L.sx && x < L.sx + L.sw && y >= L.sy && y < L.sy + L.sh) continue;
        const int delta = int(d.below(49)) - 24;
        uint8_t* q = img.at(x, y);
        for (int k = 0; k < 3; ++k) q[k] = uint8_t(std::clamp(int(q[k]) + delta, 0, 255));
      }
  }
  return img;
}

ImageSample generate_text_image(uint64_t seed, int64_t index, const TextImageOptions& options) {
  const TextSpec s = sample_text_spec(seed, index, options);
  ImageSample out;
  out.image = render_text(s, options.width, options.height);
  out.kind = "text";
  const auto lines = text_lines(s, options.width, options.height);
  nlohmann::json meta = {
      {"text", s.text},
      {"bucket", s.bucket},
      {"font", s.font()},
      {"colours", {{"background", s.background}, {"sign", s.sign}, {"text", s.ink}}},
      {"words", s.words.size()},
      {"lines", lines},
  };
  out.metadata_json = meta.dump();
  // Phrasing varies; every caption quotes the text exactly (the OCR reward reads the quotes).
  PhiloxDraws d(seed, kTextStream + 2, index);
  const std::string q = "\"" + s.text + "\"";
  const std::string thing = s.bucket == "short" ? (d.chance(0.5) ? "sign" : "label") : "notice";
  const std::vector<std::string> prompts = {
      "a " + thing + " that says " + q,
      "a " + s.sign + " " + thing + " with the words " + q + " written on it",
      q + " written in " + s.ink + " letters on a " + s.sign + " " + thing,
      "a " + s.sign + " " + thing + " that reads " + q,
      "the text " + q + " on a " + s.sign + " " + thing,
      "a " + thing + " on a " + s.background + " background with the text " + q,
  };
  out.captions.push_back(d.pick(prompts));
  const bool serif = s.family == "DejaVu Serif";
  out.captions.push_back(
      "A " + s.sign + " rectangular " + thing + " on a " + s.background + " background. It reads " +
      q + " in " + (s.bold ? "bold " : "") + s.ink + (serif ? " serif" : " sans-serif") +
      " letters" + (lines.size() > 1 ? ", over " + std::to_string(lines.size()) + " lines." : "."));
  out.qa = {
      {"What does the " + thing + " say?", s.text},
      {"What colour is the " + thing + "?", s.sign},
      {"What colour is the text?", s.ink},
      {"What colour is the background?", s.background},
      {"How many words are on the " + thing + "?", std::to_string(s.words.size())},
  };
  return out;
}

}  // namespace xomni::world
