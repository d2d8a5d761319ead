// The profiler's recorder: a stack of open scopes on the profiled thread, rows keyed by the
// (name, phase) literals they were opened with, and the trace's event list.
#include "xomni/core/tensor/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "ops/profiled_kernels.h"
#include "tensor/profiler_scopes.h"

namespace xomni::profiler {
namespace detail {
std::atomic<bool> g_enabled{false};
}

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kMaxEvents = 2'000'000;  // ~100 MB of trace; the table counts on past it

struct Frame {
  const char* name;
  const char* phase;
  Clock::time_point start;
  double flops, bytes;
  double child_s = 0;
};

struct Row {
  int64_t calls = 0;
  double total_s = 0, self_s = 0, flops = 0, bytes = 0;
};

struct RawEvent {
  const char* name;
  const char* phase;
  double start_us, duration_us, flops, bytes;
};

struct Recorder {
  std::mutex mu;
  std::thread::id thread;  // only the thread that called start() is recorded
  Clock::time_point t0;
  std::map<std::pair<const char*, const char*>, Row> rows;
  std::vector<RawEvent> events;
  int64_t dropped = 0;
};
Recorder& recorder() {
  static Recorder* r = new Recorder();  // leaked: scopes may end during static teardown
  return *r;
}

thread_local std::vector<Frame> t_stack;
thread_local const char* t_phase = "forward";

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

void start() {
  Recorder& r = recorder();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.rows.clear();
    r.events.clear();
    r.dropped = 0;
    r.thread = std::this_thread::get_id();
    r.t0 = Clock::now();
  }
  t_stack.clear();
  install_profiled_kernels(true);
  detail::g_enabled.store(true, std::memory_order_relaxed);
}

void stop() {
  detail::g_enabled.store(false, std::memory_order_relaxed);
  install_profiled_kernels(false);
}

void Scope::begin(const char* name, double flops, double bytes) {
  begin_scope(name, flops, bytes, active_);
}

void Scope::end() {
  end_scope(0);
}

void begin_scope(const char* name, double flops, double bytes, bool& active) {
  if (!enabled() || std::this_thread::get_id() != recorder().thread) return;
  t_stack.push_back({name, t_phase, Clock::now(), flops, bytes});
  active = true;
}

void end_scope(double extra_bytes) {
  if (t_stack.empty()) return;
  const Clock::time_point now = Clock::now();
  const Frame f = t_stack.back();
  t_stack.pop_back();
  const double total = seconds(now - f.start);
  if (!t_stack.empty()) t_stack.back().child_s += total;
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  Row& row = r.rows[{f.name, f.phase}];
  ++row.calls;
  row.total_s += total;
  row.self_s += total - f.child_s;
  row.flops += f.flops;
  row.bytes += f.bytes + extra_bytes;
  if (r.events.size() < kMaxEvents)
    r.events.push_back({f.name, f.phase, seconds(f.start - r.t0) * 1e6, total * 1e6, f.flops,
                        f.bytes + extra_bytes});
  else
    ++r.dropped;
}

PhaseScope::PhaseScope(const char* phase) : previous_(t_phase) {
  t_phase = phase;
}
PhaseScope::~PhaseScope() {
  t_phase = previous_;
}

std::vector<OpStat> stats() {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  // Rows opened with different literals of the same text are one row.
  std::map<std::pair<std::string, std::string>, OpStat> merged;
  for (const auto& [key, row] : r.rows) {
    OpStat& s = merged[{key.first, key.second}];
    s.name = key.first;
    s.phase = key.second;
    s.calls += row.calls;
    s.total_s += row.total_s;
    s.self_s += row.self_s;
    s.flops += row.flops;
    s.bytes += row.bytes;
  }
  std::vector<OpStat> out;
  for (auto& [key, s] : merged) out.push_back(std::move(s));
  std::stable_sort(out.begin(), out.end(),
                   [](const OpStat& a, const OpStat& b) { return a.self_s > b.self_s; });
  return out;
}

std::vector<TraceEvent> events() {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<TraceEvent> out;
  out.reserve(r.events.size());
  for (const RawEvent& e : r.events)
    out.push_back({e.name, e.phase, e.start_us, e.duration_us, e.flops, e.bytes});
  // Scopes end innermost first; a trace viewer wants them in the order they began.
  std::stable_sort(out.begin(), out.end(), [](const TraceEvent& a, const TraceEvent& b) {
    return a.start_us < b.start_us;
  });
  return out;
}

int64_t dropped_events() {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.dropped;
}

}  // namespace xomni::profiler
