#pragma once
// A deadline for blocking MPI work that the Communicator's watchdog cannot see: HDF5's MPI-IO
// collectives inside a checkpoint write or read block in MPI without a way to poll or time out,
// so one stopped or dead rank would hang every other rank there until the batch system's time
// limit. A Deadline runs a timer thread; if the guarded scope is still running when it expires,
// the job is stopped with abort_job and a message naming the scope and the setting. What was
// committed before is untouched (a checkpoint is only renamed into place when complete).
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace xomni::parallel {

class Deadline {
 public:
  // `what` completes "did not finish within N s": e.g. "writing checkpoint
  // runs/x/ckpt-00000100.h5". `setting` names the option that sets the limit. timeout_s <= 0 or a
  // one-rank job: no timer.
  Deadline(std::string what, double timeout_s, std::string setting);
  ~Deadline();  // disarms
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::thread timer_;
};

}  // namespace xomni::parallel
