// Text images: deterministic from (seed, index), captions and VQA agree with the metadata, and
// Tesseract reads the clean renders (the legibility the OCR reward relies on).
#include <gtest/gtest.h>
#if XOMNI_HAVE_TESSERACT
#include <tesseract/baseapi.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "xomni/core/tensor/error.h"
#include "xomni/world/text_image.h"

namespace xomni::world {
namespace {

TEST(TextImage, SameSeedAndIndexGiveTheSameSample) {
  for (const char* bucket : {"short", "long"}) {
    TextImageOptions o;
    o.bucket = bucket;
    o.textured_background = true;
    const ImageSample a = generate_text_image(7, 3, o), b = generate_text_image(7, 3, o);
    EXPECT_EQ(a.image, b.image);
    EXPECT_EQ(a.metadata_json, b.metadata_json);
    EXPECT_EQ(a.captions, b.captions);
    EXPECT_EQ(a.qa, b.qa);
    // Another index or seed gives another text (nearly always: 250 words, several per text).
    EXPECT_NE(generate_text_image(7, 4, o).metadata_json, a.metadata_json);
    EXPECT_NE(generate_text_image(8, 3, o).metadata_json, a.metadata_json);
  }
}

TEST(TextImage, SizesAndColoursFollowTheSpec) {
  const ImageSample s = generate_text_image(1, 0);
  EXPECT_EQ(s.image.width, 256);
  EXPECT_EQ(s.image.height, 64);
  EXPECT_EQ(s.image.rgb.size(), size_t(3 * 256 * 64));
  TextImageOptions o;
  o.bucket = "long";
  const ImageSample l = generate_text_image(1, 0, o);
  EXPECT_EQ(l.image.width, 512);
  EXPECT_EQ(l.image.height, 256);
  o.width = 300, o.height = 200;
  EXPECT_EQ(generate_text_image(1, 0, o).image.width, 300);
  // The corner pixel is the background colour and the centre row holds the sign colour.
  const auto meta = nlohmann::json::parse(s.metadata_json);
  auto rgb_of = [](const std::string& name) {
    for (const auto& c : text_colours())
      if (c.name == name) return std::vector<int>{c.r, c.g, c.b};
    return std::vector<int>{};
  };
  const uint8_t* corner = s.image.at(0, 0);
  EXPECT_EQ(std::vector<int>({corner[0], corner[1], corner[2]}),
            rgb_of(meta["colours"]["background"]));
  const auto sign = rgb_of(meta["colours"]["sign"]);
  bool found = false;
  for (int64_t x = 0; x < 256 && !found; ++x) {
    const uint8_t* p = s.image.at(x, 10);
    found = std::vector<int>({p[0], p[1], p[2]}) == sign;
  }
  EXPECT_TRUE(found);
  TextImageOptions bad;
  bad.bucket = "medium";
  EXPECT_THROW(generate_text_image(1, 0, bad), Error);
}

TEST(TextImage, CaptionsAndAnswersQuoteTheMetadata) {
  std::set<std::string> first_captions, fonts;
  for (const char* bucket : {"short", "long"})
    for (int64_t i = 0; i < 40; ++i) {
      TextImageOptions o;
      o.bucket = bucket;
      const ImageSample s = generate_text_image(11, i, o);
      EXPECT_EQ(s.kind, "text");
      const auto meta = nlohmann::json::parse(s.metadata_json);
      const std::string text = meta["text"];
      EXPECT_EQ(meta["bucket"], bucket);
      ASSERT_GE(s.captions.size(), 2u);
      for (const auto& c : s.captions)
        EXPECT_NE(c.find("\"" + text + "\""), std::string::npos) << c;
      ASSERT_GE(s.qa.size(), 4u);
      EXPECT_EQ(s.qa[0].second, text);
      EXPECT_EQ(s.qa[1].second, meta["colours"]["sign"]);
      EXPECT_EQ(s.qa[2].second, meta["colours"]["text"]);
      // The sign, its text and the background are told apart by colour.
      EXPECT_NE(meta["colours"]["sign"], meta["colours"]["text"]);
      EXPECT_NE(meta["colours"]["sign"], meta["colours"]["background"]);
      // The lines hold exactly the words of the text.
      std::string joined;
      for (const auto& l : meta["lines"]) {
        if (!joined.empty()) joined += ' ';
        joined += l.get<std::string>();
      }
      EXPECT_EQ(joined, text);
      const int64_t words = meta["words"];
      if (std::string(bucket) == "short") {
        EXPECT_GE(words, 1);
        EXPECT_LE(words, 3);
      } else {
        EXPECT_GE(words, 8);
        EXPECT_GT(meta["lines"].size(), 1u);
      }
      first_captions.insert(s.captions[0].substr(0, s.captions[0].find('"')));
      fonts.insert(meta["font"].get<std::string>());
    }
  EXPECT_GE(first_captions.size(), 5u);  // the phrasing varies
  EXPECT_EQ(fonts.size(), 4u);           // Sans, Serif, and their bold
}

#if XOMNI_HAVE_TESSERACT
// Tesseract as the ocr reward runs it (rewards/ocr/ocr_reward.cpp). Run with OMP_THREAD_LIMIT=1
// for speed; libgomp reads it at start-up, so the test cannot set it itself.
class Reader {
 public:
  explicit Reader(tesseract::PageSegMode psm) {
    ok_ = api_.Init(nullptr, "eng", tesseract::OEM_LSTM_ONLY) == 0;
    api_.SetPageSegMode(psm);
    api_.SetVariable("user_defined_dpi", "300");
  }
  bool ok() const { return ok_; }
  std::string read(const Image& im) {
    std::vector<uint8_t> gray(size_t(im.width * im.height));
    for (int64_t y = 0; y < im.height; ++y)
      for (int64_t x = 0; x < im.width; ++x) {
        const uint8_t* p = im.at(x, y);
        gray[size_t(y * im.width + x)] = uint8_t(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] + 0.5);
      }
    api_.SetImage(gray.data(), int(im.width), int(im.height), 1, int(im.width));
    std::unique_ptr<char[]> t(api_.GetUTF8Text());
    std::istringstream in(t ? t.get() : "");
    std::string w, out;  // whitespace (newlines included) collapsed to single spaces
    while (in >> w) {
      if (!out.empty()) out += ' ';
      out += w;
    }
    return out;
  }

 private:
  tesseract::TessBaseAPI api_;
  bool ok_ = false;
};

// $XOMNI_OCR_SAMPLES scales the OCR tests up for a measurement (the default keeps them fast).
int samples(int fallback) {
  const char* v = std::getenv("XOMNI_OCR_SAMPLES");
  return v && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

TEST(TextImage, TesseractReadsCleanShortRendersExactly) {
  Reader r(tesseract::PSM_SINGLE_LINE);
  ASSERT_TRUE(r.ok()) << "Tesseract cannot load 'eng'";
  const int n = samples(50);
  int exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    const ImageSample s = generate_text_image(2024, i);
    const std::string want = nlohmann::json::parse(s.metadata_json)["text"];
    const std::string got = r.read(s.image);
    if (got == want)
      ++exact;
    else
      std::printf("  miss %2lld: want '%s' got '%s' %s\n", (long long)i, want.c_str(), got.c_str(),
                  s.metadata_json.c_str());
  }
  std::printf("short renders read exactly: %d / %d\n", exact, n);
  EXPECT_GE(exact, 0.96 * n);
}

TEST(TextImage, TesseractReadsLongRenders) {
  Reader r(tesseract::PSM_SINGLE_BLOCK);
  ASSERT_TRUE(r.ok());
  const int n = samples(10);
  size_t matched = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) {
    TextImageOptions o;
    o.bucket = "long";
    const ImageSample s = generate_text_image(2024, i, o);
    const std::string want = nlohmann::json::parse(s.metadata_json)["text"];
    // Word accuracy as LongText-Bench counts it: the multiset of target words found.
    std::istringstream tw(want), gw(r.read(s.image));
    std::multiset<std::string> got;
    for (std::string w; gw >> w;) got.insert(w);
    for (std::string w; tw >> w; ++total) {
      auto it = got.find(w);
      if (it != got.end()) ++matched, got.erase(it);
    }
  }
  const double acc = double(matched) / double(total);
  std::printf("long renders word accuracy: %zu / %zu = %.3f\n", matched, total, acc);
  EXPECT_GE(acc, 0.9);
}

#else
TEST(TextImage, TesseractReadsRenders) {
  GTEST_SKIP() << "built without libtesseract-dev";
}
#endif

}  // namespace
}  // namespace xomni::world
