// Timeline JSONL: what append_timeline_jsonl writes reads back exactly; any JSON spacing reads;
// values a plot cannot use (negative or huge ranks, non-integer micro-batches, NaN or absurd
// times, a missing phase) are refused naming the file, the line and the key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "check.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {
namespace {

// One file per test and process: ctest runs the tests of this file in parallel.
std::string temp_path() {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return (std::filesystem::temp_directory_path() /
          ("xomni_timeline_" + test + "_" + std::to_string(::getpid()) + ".jsonl"))
      .string();
}

TEST(TimelineJsonl, WrittenEventsReadBackExactly) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  const std::vector<TimelineEvent> events = {{0, 0, 0, 'F', 0.0, 0.25, 7, 0},
                                             {1, 1, 3, 'B', 0.5, 1.0, 7, 2}};
  append_timeline_jsonl(path, events);
  const auto back = read_timeline_jsonl(path);
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].rank, events[i].rank);
    EXPECT_EQ(back[i].stage, events[i].stage);
    EXPECT_EQ(back[i].micro, events[i].micro);
    EXPECT_EQ(back[i].phase, events[i].phase);
    EXPECT_DOUBLE_EQ(back[i].start, events[i].start);
    EXPECT_DOUBLE_EQ(back[i].end, events[i].end);
    EXPECT_EQ(back[i].step, events[i].step);
    EXPECT_EQ(back[i].chunk, events[i].chunk);
  }
  std::filesystem::remove(path);
}

TEST(TimelineJsonl, SpacedJsonReadsAndBadValuesAreNamed) {
  const std::string path = temp_path();
  std::ofstream(path) << R"({ "rank" : 2, "micro" : 1, "phase" : "B", "start" : 0.5, "end" : 1 })"
                      << "\n";
  const auto spaced = read_timeline_jsonl(path);
  ASSERT_EQ(spaced.size(), 1u);
  EXPECT_EQ(spaced[0].rank, 2);
  EXPECT_EQ(spaced[0].stage, 2);  // defaults to the rank
  EXPECT_EQ(spaced[0].step, 0);
  EXPECT_EQ(spaced[0].chunk, 0);  // files from before interleaving have no chunk
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"rank": -1, "micro": 0, "phase": "F", "start": 0, "end": 1})",
       "\"rank\" = -1 is outside"},
      {R"({"rank": 1e30, "micro": 0, "phase": "F", "start": 0, "end": 1})",
       "\"rank\" is not an integer"},
      {R"({"rank": 99999999, "micro": 0, "phase": "F", "start": 0, "end": 1})",
       "\"rank\" = 99999999 is outside"},
      {R"({"rank": 0, "micro": 0.5, "phase": "F", "start": 0, "end": 1})",
       "\"micro\" is not an integer"},
      {R"({"rank": 0, "micro": 0, "phase": "F", "start": 0, "end": 1e300})",
       "\"end\" = 1e+300 is not a time"},
      {R"({"rank": 0, "micro": 0, "phase": "X", "start": 0, "end": 1})", "\"phase\" must be"},
      {R"({"rank": 0, "micro": 0, "start": 0, "end": 1})", "\"phase\" must be"},
      {R"({"rank": 0, "micro": 0, "phase": "F", "start": 2, "end": 1})", "ends (1) before"},
      {R"({"rank": 0, "phase": "F", "start": 0, "end": 1})", "no \"micro\""},
      {R"({"rank": 0, "micro": 0, "chunk": -2, "phase": "F", "start": 0, "end": 1})",
       "\"chunk\" = -2 is outside"},
      {"[1]", "not a JSON object"},
      {"{broken", "not valid JSON"},
  };
  for (const auto& [line, message] : bad) {
    std::ofstream(path) << "\n" << line << "\n";
    const std::string m = test::error_message([&] { read_timeline_jsonl(path); });
    EXPECT_TRUE(test::contains(m, path + ":2: ")) << m;
    EXPECT_TRUE(test::contains(m, message)) << line << " -> " << m;
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace xomni::parallel
