#pragma once
// Scoring images off the trainer's critical path: a pool of reward worker processes (`xomni
// reward-worker <rewards.toml>`, spawned with OMP_THREAD_LIMIT=1 so Tesseract is fast without
// capping the trainer's own OpenMP threads) or, for sets of thread-safe plugins only, a background
// thread in this process. submit() queues a batch and returns; wait() collects its scores.
//
// The worker protocol (rl/reward_pool.cpp and jobs/src/cmd_reward_worker.cpp), over the worker's
// stdin/stdout (one socket pair, so a write to a dead worker returns EPIPE instead of raising
// SIGPIPE), native byte order, strings as u64 length + bytes:
//   worker -> pool, once:   u8 0, u64 k, k sub-score names     | u8 1, error text
//   pool -> worker, a chunk: u64 n, n x (i64 width, i64 height, 3*w*h rgb bytes, prompt, metadata,
//                            task)
//   worker -> pool, reply:  u8 0, n f32 scores, n*k f32 sub-scores | u8 1, error text
// The pool closes the socket to stop a worker; the worker then exits 0.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "xomni/core/io/image.h"
#include "xomni/plugins/reward_set.h"

namespace xomni::rl {

struct RewardPoolOptions {
  std::string rewards;     // the reward job file (TOML, RewardSet::load)
  int workers = 2;         // worker processes (>= 1); 0 = score in the calling process
                           // (threads) when every plugin of the set is thread-safe, else
                           // one worker process
  std::string worker_exe;  // the xomni executable; "" = /proc/self/exe
};

// The worker's side (`xomni reward-worker <rewards.toml>`): loads the set, says ready, then
// scores chunks from stdin until it ends; returns the process's exit code.
int run_reward_worker(const std::string& rewards);

class RewardPool {
 public:
  explicit RewardPool(const RewardPoolOptions& options);  // starts the workers; each loads the
                                                          // set and reports ready or its error
  ~RewardPool();                                          // stops them (no zombies)
  RewardPool(const RewardPool&) = delete;
  RewardPool& operator=(const RewardPool&) = delete;

  const std::vector<std::string>& sub_score_names() const;  // as RewardSet::score names them
  // Queues a batch; returns at once. Batches are split over the workers in contiguous chunks.
  // `tasks` (one per image, or none) routes each sample to the rewards of its task
  // (RewardSet::score).
  int64_t submit(std::vector<Image> images, std::vector<std::string> prompts,
                 std::vector<std::string> metadata, std::vector<std::string> tasks = {});
  // Blocks until that batch is scored; results in submission order of the samples.
  plugins::RewardScores wait(int64_t ticket);

  // The worker processes' ids (empty when scoring in this process).
  std::vector<int> worker_pids() const;

  struct Batch;
  struct Worker;

 private:
  void worker_loop(Worker& w);
  void in_process_loop();
  void finish_chunk(Batch& batch, const std::string& error);
  void shutdown();

  std::vector<std::string> sub_score_names_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<plugins::RewardSet> in_process_;  // workers = 0 with thread-safe plugins
  std::thread in_process_thread_;
  std::vector<std::pair<int64_t, std::shared_ptr<Batch>>> in_process_queue_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a worker's queue or the in-process queue has work, or stop
  std::condition_variable done_cv_;  // a batch finished
  std::map<int64_t, std::shared_ptr<Batch>> batches_;
  int64_t next_ticket_ = 0;
  bool stopping_ = false;
};

}  // namespace xomni::rl
