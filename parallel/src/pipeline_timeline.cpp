// The schedule's timeline as JSONL (written by every rank, read back by `xomni timeline`) and the
// measured bubble fraction.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "xomni/core/io/jsonl.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

void append_timeline_jsonl(const std::string& path, const std::vector<TimelineEvent>& events) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  XOMNI_CHECK(f, "cannot open the timeline file ", path, " for appending");
  for (const TimelineEvent& e : events)
    std::fprintf(f,
                 "{\"rank\":%d,\"stage\":%d,\"micro\":%lld,\"chunk\":%d,\"phase\":\"%c\","
                 "\"start\":%.9f,\"end\":%.9f,\"step\":%lld}\n",
                 e.rank, e.stage, static_cast<long long>(e.micro), e.chunk, e.phase, e.start, e.end,
                 static_cast<long long>(e.step));
  const bool ok = std::ferror(f) == 0;
  XOMNI_CHECK(std::fclose(f) == 0 && ok, "cannot write the timeline file ", path);
}

namespace {

// Bounds that keep a damaged or hostile file from reaching the plot as a billion-row picture or an
// undefined float-to-int conversion.
constexpr int64_t kMaxRank = 1 << 20;
constexpr double kMaxSeconds = 1e9;

int64_t integer(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi, bool required,
                int64_t fallback, const std::string& where) {
  if (!j.contains(key)) {
    XOMNI_CHECK(!required, where, ": no \"", key, "\"");
    return fallback;
  }
  const nlohmann::json& v = j[key];
  XOMNI_CHECK(v.is_number_integer(), where, ": \"", key, "\" is not an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v.get<int64_t>();
  XOMNI_CHECK(x >= lo && x <= hi, where, ": \"", key, "\" = ", x, " is outside [", lo, ", ", hi,
              "]");
  return x;
}

double seconds(const nlohmann::json& j, const char* key, const std::string& where) {
  XOMNI_CHECK(j.contains(key), where, ": no \"", key, "\"");
  XOMNI_CHECK(j[key].is_number(), where, ": \"", key, "\" is not a number");
  const double x = j[key].get<double>();
  XOMNI_CHECK(std::isfinite(x) && std::fabs(x) <= kMaxSeconds, where, ": \"", key, "\" = ", x,
              " is not a time in seconds");
  return x;
}

}  // namespace

std::vector<TimelineEvent> read_timeline_jsonl(const std::string& path) {
  std::vector<TimelineEvent> events;
  for_each_jsonl_line(path, "timeline", [&](const std::string& line, int64_t lineno) {
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": not valid JSON: " + e.what());
    }
    XOMNI_CHECK(j.is_object(), where, ": not a JSON object");
    TimelineEvent e;
    e.rank = int(integer(j, "rank", 0, kMaxRank, true, 0, where));
    e.stage = int(integer(j, "stage", 0, kMaxRank, false, e.rank, where));
    e.micro = integer(j, "micro", 0, INT64_MAX, true, 0, where);
    e.step = integer(j, "step", 0, INT64_MAX, false, 0, where);
    e.chunk = int(integer(j, "chunk", 0, kMaxRank, false, 0, where));  // absent before interleaving
    e.start = seconds(j, "start", where);
    e.end = seconds(j, "end", where);
    XOMNI_CHECK(
        j.contains("phase") && j["phase"].is_string() && (j["phase"] == "F" || j["phase"] == "B"),
        where, ": \"phase\" must be \"F\" or \"B\"");
    e.phase = j["phase"].get<std::string>()[0];
    XOMNI_CHECK(e.end >= e.start, where, ": the event ends (", e.end, ") before it starts (",
                e.start, ")");
    events.push_back(e);
  });
  return events;
}

double bubble_fraction(const std::vector<TimelineEvent>& all_ranks_events, int stages) {
  XOMNI_CHECK(stages >= 1, "bubble_fraction: stages must be >= 1, got ", stages);
  XOMNI_CHECK(!all_ranks_events.empty(), "bubble_fraction: the timeline has no events");
  double first = std::numeric_limits<double>::infinity();
  double last = -std::numeric_limits<double>::infinity();
  double busy = 0;
  for (const TimelineEvent& e : all_ranks_events) {
    first = std::min(first, e.start);
    last = std::max(last, e.end);
    busy += e.end - e.start;
  }
  const double makespan = last - first;
  XOMNI_CHECK(makespan > 0, "bubble_fraction: the timeline spans no time");
  return 1.0 - busy / (double(stages) * makespan);
}

}  // namespace xomni::parallel
