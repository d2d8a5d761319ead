// The profiler's outputs: the table printed after profiled steps and the Chrome trace.
#include <cstdio>
#include <string>

#include "xomni/core/tensor/profiler.h"

namespace xomni::profiler {
namespace {

template <typename... Args>
std::string printf_str(const char* fmt, Args... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n < 0) return {};
  if (size_t(n) < sizeof buf) return std::string(buf, size_t(n));
  std::string s(size_t(n) + 1, '\0');
  std::snprintf(s.data(), s.size(), fmt, args...);
  s.resize(size_t(n));
  return s;
}

// JSON string body: quotes, backslashes and control characters escaped.
std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += printf_str("\\u%04x", unsigned(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string format_table(const std::vector<OpStat>& rows, double step_seconds, int64_t steps,
                         int max_rows) {
  const double per_step = 1.0 / double(std::max<int64_t>(steps, 1));
  std::string out = printf_str("%-28s %-10s %9s %10s %10s %7s %9s %8s\n", "name", "phase", "calls",
                               "self ms", "total ms", "self %", "GFLOP/s", "GB/s");
  double self_sum = 0, rest = 0;
  int shown = 0;
  for (const OpStat& r : rows) {
    self_sum += r.self_s;
    if (shown >= max_rows) {
      rest += r.self_s;
      continue;
    }
    ++shown;
    const std::string gflops = r.flops > 0 && r.total_s > 0
                                   ? printf_str("%9.1f", r.flops / r.total_s / 1e9)
                                   : std::string(9, ' ');
    const std::string gbs =
        r.bytes > 0 && r.total_s > 0 ? printf_str("%8.2f", r.bytes / r.total_s / 1e9) : "";
    out += printf_str("%-28s %-10s %9.1f %10.3f %10.3f %6.1f%% %s %s\n", r.name.c_str(),
                      r.phase.c_str(), double(r.calls) * per_step, r.self_s * 1e3 * per_step,
                      r.total_s * 1e3 * per_step,
                      step_seconds > 0 ? 100.0 * r.self_s * per_step / step_seconds : 0.0,
                      gflops.c_str(), gbs.c_str());
  }
  if (shown < int(rows.size()))
    out += printf_str("... %d more rows: %.3f ms per step\n", int(rows.size()) - shown,
                      rest * 1e3 * per_step);
  const double covered = self_sum * per_step;
  out += printf_str(
      "per step over %lld steps: rows sum to %.3f ms of the measured %.3f ms (%.1f%%); %.3f ms "
      "is in no row (op argument checks, graph recording, code between ops)\n",
      static_cast<long long>(steps), covered * 1e3, step_seconds * 1e3,
      step_seconds > 0 ? 100.0 * covered / step_seconds : 0.0, (step_seconds - covered) * 1e3);
  return out;
}

std::string chrome_trace_json(const std::vector<TraceEvent>& events, int rank) {
  std::string out = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  out += printf_str(
      "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": \"rank "
      "%d\"}}",
      rank, rank);
  for (const TraceEvent& e : events) {
    out += printf_str(
        ",\n{\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, "
        "\"pid\": %d, \"tid\": 0, \"args\": {\"flops\": %.0f, \"bytes\": %.0f}}",
        json_escape(e.name).c_str(), json_escape(e.phase).c_str(), e.start_us, e.duration_us, rank,
        e.flops, e.bytes);
  }
  out += "\n]}\n";
  return out;
}

}  // namespace xomni::profiler
