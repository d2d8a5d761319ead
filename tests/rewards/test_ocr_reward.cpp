// The ocr reward: the metric definitions on strings (closed forms from the OneIG-Bench and
// LongText-Bench formulas, rewards/ocr/text_metrics.h), then the plugin on Cairo-rendered images
// of known text: exact text 1 on every metric, a one-letter change and a missing word as the
// definitions say, a blank image 0.
#include <cairo.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "text_metrics.h"
#include "xomni/plugins/reward_plugin.h"

namespace {

using xomni_ocr::score_text;

TEST(OcrMetrics, Preprocessing) {
  EXPECT_EQ(xomni_ocr::preprocess_oneig("  Open, 24\thours!  "), "Open 24 hours");
  EXPECT_EQ(xomni_ocr::preprocess_longtext("  Open, 24\thours!  "), "open 24 hours");
  EXPECT_EQ(xomni_ocr::levenshtein("kitten", "sitting"), 3u);
}

TEST(OcrMetrics, ClosedForms) {
  const std::string t = "OPEN 24 HOURS";  // 13 characters, 3 words
  auto exact = score_text("open 24 hours", t, 0);
  // OneIG keeps case: 9 substitutions, only "24" matches; LongText lower-cases: all words match.
  EXPECT_EQ(exact.edit_distance, 9);
  EXPECT_DOUBLE_EQ(exact.word_accuracy, 1.0 / 3);
  EXPECT_DOUBLE_EQ(exact.longtext, 1.0);
  EXPECT_DOUBLE_EQ(exact.oneig, 1 - (9.0 / 13) * (2.0 / 3));
  // Multiset matching: a repeated word counts once per occurrence in the target.
  auto rep = score_text("GO GO GO", "GO STOP GO", 0);
  EXPECT_DOUBLE_EQ(rep.word_accuracy, 2.0 / 3);
  // OneIG-Bench's constant M = 100: blank scores 1 - 13/100.
  auto blank100 = score_text("", t, 100);
  EXPECT_DOUBLE_EQ(blank100.oneig, 1 - 13.0 / 100);
  EXPECT_DOUBLE_EQ(score_text("", t, 0).oneig, 0.0);
}

// White 256x64 image with `text` in black DejaVu Sans, centred; RGB8.
std::vector<uint8_t> render(const std::string& text, int w = 256, int h = 64) {
  cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_t* cr = cairo_create(s);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  if (!text.empty()) {
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 26);
    cairo_text_extents_t e;
    cairo_text_extents(cr, text.c_str(), &e);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, (w - e.width) / 2 - e.x_bearing, (h - e.height) / 2 - e.y_bearing);
    cairo_show_text(cr, text.c_str());
  }
  cairo_surface_flush(s);
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  const unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint32_t px;
      std::memcpy(&px, data + size_t(y) * stride + 4 * x, 4);
      for (int c = 0; c < 3; ++c) rgb[(size_t(y) * w + x) * 3 + c] = uint8_t(px >> (16 - 8 * c));
    }
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  return rgb;
}

TEST(OcrReward, RenderedTextScoresAsDefined) {
  using namespace xomni::plugins;
  const Reward reward(RewardPlugin::load("ocr"), "psm = 7\n");
  EXPECT_EQ(reward.plugin().sub_score_names(),
            (std::vector<std::string>{"edit_distance", "completion_rate", "word_accuracy",
                                      "oneig_text_score", "longtext_accuracy"}));
  const std::vector<std::string> shown = {"OPEN 24 HOURS", "OPEN 25 HOURS", "OPEN HOURS", ""};
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<XomniImage> images;
  for (const std::string& t : shown) pixels.push_back(render(t));
  for (const auto& p : pixels) images.push_back({p.data(), 256, 64, 256 * 3});
  const std::vector<std::string> prompts(4, "A shop sign that says \"OPEN 24 HOURS\"");
  const auto start = std::chrono::steady_clock::now();
  const RewardScores s = reward.score(images, prompts, {});
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // The blank image skips Tesseract, so the time is spread over the three text images.
  std::printf("ocr reward: %.1f ms per 256x64 text image\n", ms / 3);
  // Rows: ED, CR, WAC, OneIG text score (M = 13, the target's length), LongText accuracy.
  const std::vector<std::vector<double>> expected = {
      {0, 1, 1, 1, 1},                                       // exact
      {1, 0, 2.0 / 3, 1 - (1.0 / 13) * (1.0 / 3), 2.0 / 3},  // one letter: "24" -> "25"
      {3, 0, 2.0 / 3, 1 - (3.0 / 13) * (1.0 / 3), 2.0 / 3},  // missing word: "24 " deleted
      {13, 0, 0, 0, 0},                                      // blank
  };
  for (size_t i = 0; i < shown.size(); ++i) {
    EXPECT_NEAR(s.scores[i], expected[i][3], 1e-6) << "'" << shown[i] << "'";
    for (size_t k = 0; k < 5; ++k)
      EXPECT_NEAR(s.sub_scores[i * 5 + k], expected[i][k], 1e-6)
          << "'" << shown[i] << "' " << s.sub_score_names[k];
  }
}

TEST(OcrReward, TargetFromMetadataAndMissingTarget) {
  using namespace xomni::plugins;
  const Reward reward(RewardPlugin::load("ocr"), "");
  const std::vector<uint8_t> p = render("OPEN 24 HOURS");
  const XomniImage im{p.data(), 256, 64, 256 * 3};
  const RewardScores s = reward.score({im}, {"a sign"}, {R"({"text": ["OPEN", "24 HOURS"]})"});
  EXPECT_NEAR(s.scores[0], 1.0, 1e-6);
  const std::string m = xomni::test::error_message([&] { reward.score({im}, {"a sign"}, {}); });
  EXPECT_NE(m.find("ocr: sample 0 has no target text"), std::string::npos) << m;
  const std::string bad =
      xomni::test::error_message([] { Reward(RewardPlugin::load("ocr"), "colour = red"); });
  EXPECT_NE(bad.find("could not be created: ocr: unknown config key 'colour'"), std::string::npos)
      << bad;
}

}  // namespace
