// Caption files of `xomni data import`: both line forms parse with their line numbers, and every
// malformed line (JSON, keys, types, a path leaving the image folder) is refused naming the file
// and the line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "xomni/core/data/caption_file.h"

namespace xomni {
namespace {

namespace fs = std::filesystem;

std::string write_temp(const std::string& text) {
  // One file per test and process: ctest runs the tests of this file in parallel.
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const fs::path path = fs::temp_directory_path() /
                        ("xomni_captions_" + test + "_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

TEST(CaptionFile, BothFormsWithLineNumbers) {
  const std::string path = write_temp(
      "{\"file\": \"a.png\", \"caption\": \"a cat\"}\n"
      "   \n"
      "{\"file\": \"sub/b.jpg\", \"captions\": [\"a dog\", \"a brown dog\"]}\r\n");
  const auto records = read_caption_file(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_EQ(records[0].file, "a.png");
  EXPECT_EQ(records[0].captions, std::vector<std::string>{"a cat"});
  EXPECT_EQ(records[1].line, 3);
  EXPECT_EQ(records[1].file, "sub/b.jpg");
  EXPECT_EQ(records[1].captions, (std::vector<std::string>{"a dog", "a brown dog"}));
  fs::remove(path);
}

TEST(CaptionFile, BadLinesAreRefusedNamingTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"file\": \"a.png\"", "not valid JSON"},
      {"\"a.png\"", "not a JSON object"},
      {R"({"caption": "x"})", "needs a string \"file\""},
      {R"({"file": 3, "caption": "x"})", "needs a string \"file\""},
      {R"({"file": "a.png"})", "needs exactly one of"},
      {R"({"file": "a.png", "caption": "x", "captions": ["y"]})", "needs exactly one of"},
      {R"({"file": "a.png", "caption": 1})", "\"caption\" is not a string"},
      {R"({"file": "a.png", "captions": []})", "not a non-empty array"},
      {R"({"file": "a.png", "captions": ["x", 2]})", "holds a non-string"},
      {R"({"file": "a.png", "captoin": "x"})", "unknown key \"captoin\""},
      {R"({"file": "/etc/passwd", "caption": "x"})", "is absolute"},
      {R"({"file": "../secret.png", "caption": "x"})", "leaves the image folder"},
      {R"({"file": "", "caption": "x"})", "\"file\" is empty"},
  };
  for (const auto& [line, message] : cases) {
    const std::string path = write_temp("{\"file\": \"ok.png\", \"caption\": \"fine\"}\n" + line);
    const std::string m = test::error_message([&] { read_caption_file(path); });
    EXPECT_TRUE(test::contains(m, path + " line 2: ")) << m;
    EXPECT_TRUE(test::contains(m, message)) << line << " -> " << m;
    fs::remove(path);
  }
}

}  // namespace
}  // namespace xomni
