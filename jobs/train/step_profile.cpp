#include "train/step_profile.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/profiler.h"

namespace xomni::train {
namespace {

long minor_page_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  XOMNI_CHECK(f.good(), "profile: cannot write ", path.string());
}

}  // namespace

StepProfile::StepProfile(int64_t steps, int64_t steps_left, std::filesystem::path dir, int rank)
    : dir_(std::move(dir)), rank_(rank) {
  if (steps <= 0 || steps_left <= 0) return;
  first_ = steps_left > 1 ? 1 : 0;  // the first step warms up allocations and caches
  count_ = std::min(steps, steps_left - first_);
}

StepProfile::~StepProfile() {
  if (running_) profiler::stop();
}

void StepProfile::before_step(int64_t index) {
  if (count_ == 0 || index != first_) return;
  faults_at_start_ = minor_page_faults();
  profiler::start();
  running_ = true;
}

void StepProfile::after_step(int64_t index, double step_seconds) {
  if (!running_) return;
  ++done_;
  seconds_ += step_seconds;
  if (index + 1 == first_ + count_) finish();
}

void StepProfile::finish() {
  if (!running_) return;
  profiler::stop();
  running_ = false;
  if (done_ == 0) return;
  const double step_s = seconds_ / double(done_);
  const double faults = double(minor_page_faults() - faults_at_start_) / double(done_);
  char head[256];
  std::snprintf(head, sizeof head,
                "op profile, rank %d: %lld steps, %.3f ms per step, %.0f minor page faults per "
                "step\n",
                rank_, static_cast<long long>(done_), step_s * 1e3, faults);
  const std::string table = head + profiler::format_table(profiler::stats(), step_s, done_);
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  XOMNI_CHECK(!ec, "profile: cannot create ", dir_.string(), ": ", ec.message());
  const std::string suffix = "rank" + std::to_string(rank_);
  write_file(dir_ / ("ops-" + suffix + ".txt"), table);
  write_file(dir_ / ("trace-" + suffix + ".json"),
             profiler::chrome_trace_json(profiler::events(), rank_));
  if (rank_ == 0)
    std::fprintf(stderr, "%s(per rank: %s/ops-rank<r>.txt, trace-rank<r>.json)\n", table.c_str(),
                 dir_.string().c_str());
}

}  // namespace xomni::train
