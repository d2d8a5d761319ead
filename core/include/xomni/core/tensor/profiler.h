#pragma once
// The per-op profiler. While it runs, every kernel call (the arithmetic of every op, forward and
// backward), the autograd engine and the regions a caller names (a trainer's gradient reduction,
// its data loading) are timed on the calling thread, with FLOPs and bytes where the kernel knows
// them. Rows are keyed by (name, phase): the phase is "forward" unless a PhaseScope says
// otherwise (run_backward marks "backward", an optimizer step "optimizer"). Nested scopes count
// in their parent's total but not its self time, so the self times of all rows add up to the
// time spent inside any scope. When the profiler is off a Scope costs one relaxed load, and the
// kernel table in use is the plain one (see start()).
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace xomni::profiler {

namespace detail {
extern std::atomic<bool> g_enabled;
}
inline bool enabled() {
  return detail::g_enabled.load(std::memory_order_relaxed);
}

// Clears what was recorded and starts recording (swaps in the timed kernel table).
void start();
// Stops recording; what was recorded stays readable.
void stop();

struct OpStat {
  std::string name, phase;
  int64_t calls = 0;
  double total_s = 0;  // including nested scopes
  double self_s = 0;   // excluding them
  double flops = 0;    // 0 where the kernel does not say
  double bytes = 0;    // tensor bytes read and written, 0 where not known
};
// One row per (name, phase), largest self time first.
std::vector<OpStat> stats();

struct TraceEvent {
  std::string name, phase;
  double start_us = 0, duration_us = 0;  // since start()
  double flops = 0, bytes = 0;
};
// Every scope that ended, in the order they began. Capped (see kMaxEvents in profiler.cpp); the
// table keeps counting past the cap.
std::vector<TraceEvent> events();
int64_t dropped_events();

// Times the enclosing block under `name` (a string that outlives the profile: a literal).
class Scope {
 public:
  explicit Scope(const char* name, double flops = 0, double bytes = 0) {
    if (enabled()) begin(name, flops, bytes);
  }
  ~Scope() {
    if (active_) end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* name, double flops, double bytes);
  void end();
  bool active_ = false;
};

// Sets the phase rows are recorded under on this thread for the enclosing block.
class PhaseScope {
 public:
  explicit PhaseScope(const char* phase);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* previous_;
};

// The table as text, like PyTorch's key_averages(): per row the calls, self and total time per
// step, share of the measured step time, GFLOP/s and GB/s; then the rows' sum against
// `step_seconds` (the measured mean step time) and what no row covers. `steps` divides the totals.
std::string format_table(const std::vector<OpStat>& rows, double step_seconds, int64_t steps,
                         int max_rows = 40);
// Chrome trace event format (chrome://tracing, Perfetto): complete events ("ph": "X") in
// microseconds, pid = rank, tid 0, the phase as the category.
std::string chrome_trace_json(const std::vector<TraceEvent>& events, int rank);

}  // namespace xomni::profiler
