#pragma once
// Wall-clock seconds for the time splits stages and evaluations report.
#include <chrono>

namespace xomni::jobs {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace xomni::jobs
