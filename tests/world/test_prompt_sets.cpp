// Prompt sets: the evaluation sets are fixed (same prompts on every call, documented sizes, every
// category covered) and every prompt carries the metadata its reward or metric checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "xomni/core/tensor/error.h"
#include "xomni/world/prompt_sets.h"
#include "xomni/world/scene.h"
#include "xomni/world/text_image.h"

namespace xomni::world {
namespace {

bool same(const std::vector<Prompt>& a, const std::vector<Prompt>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (prompt_json_line(a[i]) != prompt_json_line(b[i])) return false;
  return true;
}

TEST(PromptSets, EvaluationSetsAreFixedAndHaveTheDocumentedSizes) {
  const std::map<std::string, int64_t> sizes = {{"geneval", 6 * kGenEvalPerCategory},
                                                {"text_short", kTextShortEvalSize},
                                                {"text_long", kTextLongEvalSize},
                                                {"vqa_text", kVqaTextEvalSize},
                                                {"vqa_scene", kVqaSceneEvalSize}};
  ASSERT_EQ(eval_set_names().size(), sizes.size());
  for (const auto& name : eval_set_names()) {
    const auto a = eval_set(name);
    EXPECT_EQ(int64_t(a.size()), sizes.at(name)) << name;
    EXPECT_TRUE(same(a, eval_set(name))) << name;
    std::set<std::string> texts;
    for (const auto& p : a) {
      EXPECT_EQ(p.set, name);
      texts.insert(p.text + p.metadata_json);
    }
    EXPECT_EQ(texts.size(), a.size()) << name << " has duplicate prompts";
  }
  EXPECT_THROW(eval_set("geneva"), Error);
}

TEST(PromptSets, GenEvalCoversEveryCategoryEqually) {
  std::map<std::string, int64_t> per;
  for (const auto& p : eval_set("geneval")) {
    EXPECT_EQ(p.task, "scene");
    const auto meta = nlohmann::json::parse(p.metadata_json);
    EXPECT_EQ(meta["category"], p.category);
    EXPECT_EQ(meta["prompt"], p.text);
    EXPECT_FALSE(meta["include"].empty());
    ++per[p.category];
  }
  ASSERT_EQ(per.size(), kSceneCategories.size());
  for (const char* c : kSceneCategories) EXPECT_EQ(per[c], kGenEvalPerCategory) << c;
}

TEST(PromptSets, TextPromptsQuoteTheirMetadataText) {
  for (const char* name : {"text_short", "text_long"}) {
    for (const auto& p : eval_set(name)) {
      const auto meta = nlohmann::json::parse(p.metadata_json);
      const std::string text = meta["text"];
      EXPECT_NE(p.text.find("\"" + text + "\""), std::string::npos) << p.text;
      EXPECT_EQ(meta["bucket"], p.category);
      // The image it asks for has its bucket's aspect: 256x64 short, 512x256 long.
      EXPECT_EQ(image_aspect(p), p.category == "short" ? 4.0 : 2.0) << p.text;
    }
  }
  for (const auto& p : eval_set("geneval")) EXPECT_EQ(image_aspect(p), 1.0) << p.text;
}

TEST(PromptSets, VqaAnswersMatchTheRegeneratedImage) {
  for (const char* name : {"vqa_text", "vqa_scene"}) {
    std::set<std::string> variants;
    for (const auto& p : eval_set(name)) {
      EXPECT_EQ(p.task, "vqa");
      const auto meta = nlohmann::json::parse(p.metadata_json);
      const auto& im = meta["image"];
      ImageSample s;
      if (im["generator"] == "text") {
        TextImageOptions o;
        o.bucket = im["bucket"];
        s = generate_text_image(im["seed"].get<uint64_t>(), im["index"].get<int64_t>(), o);
        variants.insert(o.bucket);
      } else {
        SceneOptions o;
        o.size = im["size"][0];
        s = generate_scene(im["seed"].get<uint64_t>(), im["index"].get<int64_t>(),
                           im["category"].get<std::string>(), o);
        variants.insert(im["category"].get<std::string>());
      }
      EXPECT_EQ(nlohmann::json::parse(s.metadata_json), meta["metadata"]);
      bool found = false;
      for (const auto& [q, a] : s.qa) found = found || (q == p.text && a == meta["answer"]);
      EXPECT_TRUE(found) << p.text;
    }
    EXPECT_EQ(variants.size(), std::string(name) == "vqa_text" ? 2u : kSceneCategories.size());
  }
}

TEST(PromptSets, TrainingPoolIsDeterministicAndMixed) {
  const auto a = training_prompts(5, 200), b = training_prompts(5, 200);
  EXPECT_TRUE(same(a, b));
  EXPECT_FALSE(same(a, training_prompts(6, 200)));
  // A longer pool starts with the shorter one (prompt i depends on (seed, i) only).
  const auto c = training_prompts(5, 50);
  EXPECT_TRUE(same(c, std::vector<Prompt>(a.begin(), a.begin() + 50)));
  std::map<std::string, int64_t> per;
  for (const auto& p : a) ++per[p.task + "/" + p.category];
  for (const char* cat : kSceneCategories) EXPECT_GT(per[std::string("scene/") + cat], 0) << cat;
  EXPECT_GT(per["text/short"], per["text/long"]);
  EXPECT_GT(per["text/long"], 0);
  const int64_t text = per["text/short"] + per["text/long"];
  EXPECT_GT(text, 70);  // text_fraction 0.5 of 200: binomial sd ~7
  EXPECT_LT(text, 130);
  for (const auto& p : training_prompts(5, 50, 0.0)) EXPECT_EQ(p.task, "scene");
}

TEST(PromptSets, WritesJsonlFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "xomni_test_prompt_sets";
  std::filesystem::remove_all(dir);
  const auto files = write_prompt_sets(dir.string(), 9, 20);
  EXPECT_EQ(files.size(), eval_set_names().size() + 1);
  std::ifstream f(dir / "train.jsonl");
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("prompt") && j.contains("metadata") && j["set"] == "train");
    ++n;
  }
  EXPECT_EQ(n, 20);
  EXPECT_THROW(write_prompt_sets(dir.string(), kEvalSeed, 1), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xomni::world
