#include "xomni/parallel/deadline.h"

#include <chrono>
#include <cstdio>

#include "xomni/parallel/comm.h"

namespace xomni::parallel {

Deadline::Deadline(std::string what, double timeout_s, std::string setting) {
  if (!(timeout_s > 0) || world_size() <= 1) return;
  timer_ = std::thread([this, what = std::move(what), timeout_s, setting = std::move(setting)] {
    std::unique_lock lock(mutex_);
    const auto limit = std::chrono::duration<double>(timeout_s);
    if (done_.wait_for(lock, limit, [this] { return finished_; })) return;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
    // MPI_THREAD_FUNNELED forbids MPI calls from this thread, but the main thread is stuck inside
    // MPI; MPI_Abort from here is what stops the job, and _Exit follows if it cannot.
    abort_job(what + " did not finish within " + seconds + " s (" + setting +
              "): another rank is probably stopped or dead. Checkpoints committed before are "
              "intact; resubmit to resume from the newest one.");
  });
}

Deadline::~Deadline() {
  if (!timer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    finished_ = true;
  }
  done_.notify_one();
  timer_.join();
}

}  // namespace xomni::parallel
