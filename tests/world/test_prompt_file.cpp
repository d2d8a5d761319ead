// Prompt files: every evaluation set written by write_prompt_sets reads back as the same prompts,
// and malformed lines are refused naming the file, the line and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/prompt_file.h"

namespace xomni::world {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("xomni_prompt_file_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(PromptFile, WrittenSetsReadBackUnchanged) {
  const fs::path dir = temp_dir("roundtrip");
  write_prompt_sets(dir.string(), 7, 20);
  for (const auto& name : eval_set_names()) {
    const auto expected = eval_set(name);
    const auto read = read_prompt_file((dir / (name + ".jsonl")).string());
    ASSERT_EQ(read.size(), expected.size()) << name;
    for (size_t i = 0; i < read.size(); ++i) {
      EXPECT_EQ(read[i].set, expected[i].set);
      EXPECT_EQ(read[i].task, expected[i].task);
      EXPECT_EQ(read[i].category, expected[i].category);
      EXPECT_EQ(read[i].text, expected[i].text);
      EXPECT_EQ(prompt_json_line(read[i]), prompt_json_line(expected[i])) << name << " " << i;
    }
  }
  EXPECT_EQ(read_prompt_file((dir / "train.jsonl").string()).size(), 20u);
  fs::remove_all(dir);
}

TEST(PromptFile, BadLinesNameFileLineAndKey) {
  const std::string ok =
      R"({"task": "scene", "category": "single_object", "prompt": "a red cube", "metadata": {}})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {R"({"task": "scene", "category": "c", "prompt": "p", "metadata": {}, "promt": 1})",
       "unknown key \"promt\""},
      {R"({"task": "paint", "category": "c", "prompt": "p", "metadata": {}})",
       "'paint' is not one of scene, text, vqa"},
      {R"({"task": "scene", "category": 3, "prompt": "p", "metadata": {}})",
       "needs a string \"category\""},
      {R"({"task": "scene", "category": "c", "prompt": "", "metadata": {}})",
       "\"prompt\" is empty"},
      {R"({"task": "scene", "category": "c", "prompt": "p", "metadata": []})",
       "needs an object \"metadata\""},
      {R"({"task": "vqa", "category": "c", "prompt": "p", "metadata": {"image": {}}})",
       "needs a string \"answer\""},
  };
  const fs::path dir = temp_dir("bad");
  for (const auto& [line, message] : cases) {
    const std::string path = (dir / "p.jsonl").string();
    std::ofstream(path) << ok << "\n\n" << line << "\n";
    const std::string m = test::error_message([&] { read_prompt_file(path); });
    EXPECT_TRUE(test::contains(m, path + " line 3: ")) << m;
    EXPECT_TRUE(test::contains(m, message)) << m;
  }
  EXPECT_TRUE(
      test::contains(test::error_message([&] { read_prompt_file((dir / "none").string()); }),
                     "cannot open the prompt file"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xomni::world
