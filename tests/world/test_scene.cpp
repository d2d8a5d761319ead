// The scene generator: determinism, metadata/caption/QA consistency, caption variety.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "check.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/scene.h"
#include "xomni/world/scene_checker.h"

namespace xomni::world {
namespace {

using xomni::test::contains;

TEST(Scene, DeterministicFromSeedAndIndex) {
  for (int i = 0; i < 12; ++i) {
    SceneOptions opt;
    opt.textured_background = i % 2;
    const auto a = generate_scene(3, i, opt), b = generate_scene(3, i, opt);
    EXPECT_EQ(a.image, b.image);
    EXPECT_EQ(a.metadata_json, b.metadata_json);
    EXPECT_EQ(a.captions, b.captions);
    EXPECT_EQ(a.qa, b.qa);
    EXPECT_EQ(a.kind, "scene");
    EXPECT_EQ(a.image.width, 64);
    EXPECT_FALSE(a.image == generate_scene(3, i + 6, opt).image) << i;  // same category
    EXPECT_FALSE(a.image == generate_scene(4, i, opt).image) << i;
  }
  SceneOptions big;
  big.size = 128;
  const auto s = generate_scene(3, 5, "position", big);
  EXPECT_EQ(s.image.width, 128);
  EXPECT_EQ(s.image.rgb.size(), size_t(3 * 128 * 128));
  EXPECT_TRUE(score_geneval(s.image, s.metadata_json).pass);
  EXPECT_THROW(generate_scene(3, 0, "nonsense"), Error);
}

TEST(Scene, MetadataCaptionsAndQaAgree) {
  std::map<std::string, int> per_category;
  for (int i = 0; i < 300; ++i) {
    const auto s = generate_scene(5, i);
    const auto m = parse_scene_metadata(s.metadata_json);
    ++per_category[m.category];
    EXPECT_EQ(m.category, kSceneCategories[size_t(i % 6)]);
    EXPECT_EQ(m.prompt, s.captions.at(0));
    ASSERT_GE(s.captions.size(), 3u);
    // Every object is in the image, as the checker parses it (shape, colour, exact box).
    const auto det = parse_scene(s.image);
    for (const auto& o : m.objects)
      EXPECT_TRUE(std::any_of(det.begin(), det.end(),
                              [&](const DetectedObject& d) {
                                return d.shape == o.shape && d.color == o.color && d.box == o.box;
                              }))
          << i << " " << o.color << " " << o.shape;
    // The dense caption names every object's colour and shape; the prompt names every shape
    // GenEval's rule checks, and the colours it asks for.
    const std::string& dense = s.captions.back();
    for (const auto& o : m.objects) {
      EXPECT_TRUE(contains(dense, o.color)) << dense;
      const auto& syn = shape_synonyms(o.shape);
      EXPECT_TRUE(std::any_of(syn.begin(), syn.end(), [&](const std::string& w) {
        return contains(dense, w);
      })) << dense;
    }
    for (const auto& r : m.include) {
      const auto& syn = shape_synonyms(r.shape);
      EXPECT_TRUE(std::any_of(syn.begin(), syn.end(), [&](const std::string& w) {
        return contains(m.prompt, w);
      })) << m.prompt;
      if (!r.color.empty()) {
        EXPECT_TRUE(contains(m.prompt, r.color)) << m.prompt;
      }
    }
    if (m.category == "counting") {
      EXPECT_TRUE(contains(m.prompt, number_word(m.include[0].count)) ||
                  contains(m.prompt, std::to_string(m.include[0].count)) ||
                  (m.include[0].count == 1 && contains(m.prompt, "single")))
          << m.prompt;
      EXPECT_EQ(m.exclude.at(0).count, m.include[0].count + 1);
      EXPECT_EQ(int64_t(m.objects.size()), m.include[0].count);
    }
    // Counting answers equal the metadata's counts.
    int count_questions = 0;
    for (const auto& [q, a] : s.qa) {
      if (q == "How many objects are in the image?") {
        EXPECT_EQ(a, std::to_string(m.objects.size()));
        ++count_questions;
        continue;
      }
      if (!contains(q, "How many ")) continue;
      for (const char* shape : kSceneShapes) {
        for (const auto& w : shape_synonyms(shape)) {
          if (!contains(q, "How many " + w + (w.back() == 'x' ? "es" : "s") + " ")) continue;
          const auto n = std::count_if(m.objects.begin(), m.objects.end(),
                                       [&](const SceneObject& o) { return o.shape == shape; });
          EXPECT_EQ(a, std::to_string(n)) << q;
          ++count_questions;
        }
      }
    }
    EXPECT_GE(count_questions, 2) << i;
  }
  for (const char* c : kSceneCategories) EXPECT_EQ(per_category[c], 50) << c;
}

// Replaces colour names, shape synonyms and numbers by '_': what is left is the template.
std::string template_of(std::string text) {
  std::vector<std::string> words;
  for (const auto& c : scene_palette()) words.push_back(c.name);
  for (const char* s : kSceneShapes)
    for (const auto& w : shape_synonyms(s)) words.push_back(w);
  for (int n = 0; n <= 4; ++n) words.push_back(number_word(n)), words.push_back(std::to_string(n));
  std::sort(words.begin(), words.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& w : words)
    for (size_t at; (at = text.find(w)) != std::string::npos;)
      text = text.substr(0, at) + "_" + text.substr(at + w.size());
  return text;
}

TEST(Scene, MetadataWithNonIntegerOrHugeNumbersIsRefused) {
  const std::string base = R"({"include": [{"class": "square", "count": COUNT}],
      "objects": [{"shape": "square", "color": "red", "box": [1, 2, BOX, 4]}]})";
  auto with = [&](const std::string& count, const std::string& box) {
    std::string s = base;
    s.replace(s.find("COUNT"), 5, count);
    s.replace(s.find("BOX"), 3, box);
    return s;
  };
  EXPECT_EQ(parse_scene_metadata(with("2", "3")).include[0].count, 2);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {with("2", "2488888888888888888888888"), "a box coordinate is not an integer"},
      {with("2", "3.5"), "a box coordinate is not an integer"},
      {with("2", "99999999"), "a box coordinate = 99999999 is outside"},
      {with("1e30", "3"), "count is not an integer"},
      {with("-1", "3"), "count = -1 is outside"},
      {with("18446744073709551615", "3"), "count = 18446744073709551615 is outside"},
  };
  for (const auto& [json, message] : bad) {
    const std::string m = test::error_message([&] { parse_scene_metadata(json); });
    EXPECT_TRUE(test::contains(m, message)) << m;
  }
}

TEST(Scene, CaptionVariety) {
  std::set<std::string> prompts, sentences, distinct_prompts;
  for (int i = 0; i < 600; ++i) {
    const auto s = generate_scene(9, i);
    prompts.insert(template_of(s.captions[0]));
    sentences.insert(template_of(s.captions[1]).substr(0, 12));
    distinct_prompts.insert(s.captions[0]);
  }
  std::printf("[scene] %zu prompt templates, %zu sentence openings, %zu distinct prompts\n",
              prompts.size(), sentences.size(), distinct_prompts.size());
  EXPECT_GE(prompts.size(), 25u);  // 4-5 templates x 6 categories (+ relation phrasings)
  EXPECT_GE(sentences.size(), 4u);
  EXPECT_GE(distinct_prompts.size(), 300u);
}

TEST(Scene, Throughput) {
  const auto t0 = std::chrono::steady_clock::now();
  const int n = 500;
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) bytes += generate_scene(1, i).image.rgb.size();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[scene] generated %d 64x64 scenes in %.3f s: %.0f scenes/s\n", n, s, n / s);
  EXPECT_EQ(bytes, size_t(n) * 3 * 64 * 64);
}

}  // namespace
}  // namespace xomni::world
