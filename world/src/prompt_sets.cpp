// Prompt sets from the scene and text generators: a prompt is a generated sample's first caption
// (or one of its VQA questions) with the sample's metadata, so the image it asks for can be
// checked (scene checker, OCR) or regenerated (VQA) from the record alone.
#include "xomni/world/prompt_sets.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "philox_draws.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/scene.h"
#include "xomni/world/text_image.h"

namespace xomni::world {
namespace {

constexpr uint64_t kPromptStream = 0x70726F6D7074ull;  // "prompt"
// Each evaluation set draws from its own seed, so resizing one set leaves the others as they are.
constexpr uint64_t kGenEvalSeed = kEvalSeed + 1, kTextShortSeed = kEvalSeed + 2,
                   kTextLongSeed = kEvalSeed + 3, kVqaTextSeed = kEvalSeed + 4,
                   kVqaSceneSeed = kEvalSeed + 5;

Prompt scene_prompt(const std::string& set, uint64_t seed, int64_t index,
                    const std::string& category) {
  SceneOptions o;
  o.size = kEvalSceneSize;
  const ImageSample s = generate_scene(seed, index, category, o);
  return {set, "scene", category, s.captions.at(0), s.metadata_json};
}

Prompt text_prompt(const std::string& set, uint64_t seed, int64_t index,
                   const std::string& bucket) {
  TextImageOptions o;
  o.bucket = bucket;
  const ImageSample s = generate_text_image(seed, index, o);
  return {set, "text", bucket, s.captions.at(0), s.metadata_json};
}

// A VQA prompt on image (generator, seed, index); which question is asked rotates with the index.
Prompt vqa_prompt(const std::string& set, const std::string& generator, uint64_t seed,
                  int64_t index, const std::string& variant) {
  ImageSample s;
  nlohmann::json image = {{"generator", generator}, {"seed", seed}, {"index", index}};
  if (generator == "text") {
    TextImageOptions o;
    o.bucket = variant;
    s = generate_text_image(seed, index, o);
    image["bucket"] = variant;
    image["size"] = {s.image.width, s.image.height};
  } else {
    SceneOptions o;
    o.size = kEvalSceneSize;
    s = generate_scene(seed, index, variant, o);
    image["category"] = variant;
    image["size"] = {o.size, o.size};
  }
  XOMNI_CHECK(!s.qa.empty(), "prompt sets: the ", generator, " sample ", index,
              " has no question/answer pairs");
  const auto& [question, answer] = s.qa[size_t(index) % s.qa.size()];
  nlohmann::json meta = {
      {"answer", answer}, {"image", image}, {"metadata", nlohmann::json::parse(s.metadata_json)}};
  return {set, "vqa", generator, question, meta.dump()};
}

}  // namespace

std::vector<Prompt> training_prompts(uint64_t seed, int64_t count, double text_fraction) {
  XOMNI_CHECK(count >= 0, "training_prompts: negative count ", count);
  XOMNI_CHECK(text_fraction >= 0 && text_fraction <= 1,
              "training_prompts: text_fraction must be in [0, 1], got ", text_fraction);
  std::vector<Prompt> out;
  out.reserve(size_t(count));
  int64_t scenes = 0;
  for (int64_t i = 0; i < count; ++i) {
    PhiloxDraws d(seed, kPromptStream, i);
    if (d.chance(text_fraction)) {
      out.push_back(text_prompt("train", seed, i, d.chance(0.7) ? "short" : "long"));
    } else {
      const std::string cat = kSceneCategories[size_t(scenes++ % int64_t(kSceneCategories.size()))];
      out.push_back(scene_prompt("train", seed, i, cat));
    }
  }
  return out;
}

const std::vector<std::string>& eval_set_names() {
  static const std::vector<std::string> k = {"geneval", "text_short", "text_long", "vqa_text",
                                             "vqa_scene"};
  return k;
}

std::vector<Prompt> eval_set(const std::string& name) {
  std::vector<Prompt> out;
  const int64_t ncat = int64_t(kSceneCategories.size());
  if (name == "geneval") {
    for (int64_t c = 0; c < ncat; ++c)
      for (int64_t i = 0; i < kGenEvalPerCategory; ++i)
        out.push_back(scene_prompt(name, kGenEvalSeed, c * kGenEvalPerCategory + i,
                                   kSceneCategories[size_t(c)]));
  } else if (name == "text_short" || name == "text_long") {
    const bool is_short = name == "text_short";
    const int64_t n = is_short ? kTextShortEvalSize : kTextLongEvalSize;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(text_prompt(name, is_short ? kTextShortSeed : kTextLongSeed, i,
                                is_short ? "short" : "long"));
  } else if (name == "vqa_text") {
    for (int64_t i = 0; i < kVqaTextEvalSize; ++i)
      out.push_back(vqa_prompt(name, "text", kVqaTextSeed, i, i % 4 == 3 ? "long" : "short"));
  } else if (name == "vqa_scene") {
    for (int64_t i = 0; i < kVqaSceneEvalSize; ++i)
      out.push_back(
          vqa_prompt(name, "scene", kVqaSceneSeed, i, kSceneCategories[size_t(i % ncat)]));
  } else {
    throw Error("prompt sets: unknown evaluation set '" + name +
                "' (known: geneval, text_short, text_long, vqa_text, vqa_scene)");
  }
  return out;
}

std::string prompt_json_line(const Prompt& p) {
  nlohmann::json j = {{"set", p.set},
                      {"task", p.task},
                      {"category", p.category},
                      {"prompt", p.text},
                      {"metadata", nlohmann::json::parse(p.metadata_json)}};
  return j.dump();
}

std::vector<std::string> write_prompt_sets(const std::string& dir, uint64_t train_seed,
                                           int64_t train_count) {
  XOMNI_CHECK(train_seed < kEvalSeed || train_seed > kEvalSeed + 16, "prompt sets: train seed ",
              train_seed, " is one of the evaluation sets' seeds; pick another");
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  auto write = [&](const std::string& name, const std::vector<Prompt>& prompts) {
    const std::string path = (std::filesystem::path(dir) / (name + ".jsonl")).string();
    const std::string tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      XOMNI_CHECK(f, "prompt sets: cannot write ", tmp);
      for (const auto& p : prompts) f << prompt_json_line(p) << '\n';
      XOMNI_CHECK(f.flush(), "prompt sets: writing ", tmp, " failed");
    }
    std::filesystem::rename(tmp, path);
    files.push_back(path);
  };
  for (const auto& name : eval_set_names()) write(name, eval_set(name));
  write("train", training_prompts(train_seed, train_count));
  return files;
}

double image_aspect(const Prompt& prompt) {
  if (prompt.task != "text") return 1.0;
  const auto [w, h] = default_text_size(prompt.category == "long" ? "long" : "short");
  return double(w) / double(h);
}

}  // namespace xomni::world
