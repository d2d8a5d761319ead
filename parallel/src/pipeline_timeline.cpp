// The schedule's timeline as JSONL (written by every rank, read back by `xomni timeline`) and the
// measured bubble fraction.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>

#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

void append_timeline_jsonl(const std::string& path, const std::vector<TimelineEvent>& events) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  XOMNI_CHECK(f, "cannot open the timeline file ", path, " for appending");
  for (const TimelineEvent& e : events)
    std::fprintf(f,
                 "{\"rank\":%d,\"stage\":%d,\"micro\":%lld,\"phase\":\"%c\",\"start\":%.9f,"
                 "\"end\":%.9f,\"step\":%lld}\n",
                 e.rank, e.stage, static_cast<long long>(e.micro), e.phase, e.start, e.end,
                 static_cast<long long>(e.step));
  const bool ok = std::ferror(f) == 0;
  XOMNI_CHECK(std::fclose(f) == 0 && ok, "cannot write the timeline file ", path);
}

namespace {

// The text after "key": in a one-line object we wrote ourselves; nullptr when the key is absent.
const char* value_of(const std::string& line, const char* key) {
  const std::string k = std::string("\"") + key + "\":";
  const size_t at = line.find(k);
  return at == std::string::npos ? nullptr : line.c_str() + at + k.size();
}

}  // namespace

std::vector<TimelineEvent> read_timeline_jsonl(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open the timeline file ", path);
  std::vector<TimelineEvent> events;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto number = [&](const char* key, bool required, double fallback) {
      const char* v = value_of(line, key);
      XOMNI_CHECK(v || !required, path, ":", lineno, ": no \"", key, "\" in '", line, "'");
      if (!v) return fallback;
      char* end = nullptr;
      const double x = std::strtod(v, &end);
      XOMNI_CHECK(end != v, path, ":", lineno, ": \"", key, "\" is not a number in '", line, "'");
      return x;
    };
    TimelineEvent e;
    e.rank = int(number("rank", true, 0));
    e.stage = int(number("stage", false, e.rank));
    e.micro = int64_t(number("micro", true, 0));
    e.start = number("start", true, 0);
    e.end = number("end", true, 0);
    e.step = int64_t(number("step", false, 0));
    const char* ph = value_of(line, "phase");
    XOMNI_CHECK(ph && ph[0] == '"' && (ph[1] == 'F' || ph[1] == 'B') && ph[2] == '"', path, ":",
                lineno, ": \"phase\" must be \"F\" or \"B\" in '", line, "'");
    e.phase = ph[1];
    XOMNI_CHECK(e.end >= e.start, path, ":", lineno, ": the event ends (", e.end,
                ") before it starts (", e.start, ")");
    events.push_back(e);
  }
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
