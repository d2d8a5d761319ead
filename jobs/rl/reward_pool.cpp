// The reward worker pool (reward_pool.h): worker processes over socket pairs, one feeding thread
// per worker, and the in-process mode for thread-safe reward sets.
#include "rl/reward_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string_view>

#include "xomni/core/tensor/error.h"
#include "xomni/plugins/shared_library.h"

extern char** environ;

namespace xomni::rl {
namespace fs = std::filesystem;

namespace {

// ---- the wire: whole-buffer reads and writes of native-order values ----

// A write to a worker that died must return EPIPE, not raise SIGPIPE in the trainer: send() with
// MSG_NOSIGNAL does that on the socket; write() covers a worker run by hand on a plain pipe.
bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= size_t(w);
  }
  return true;
}

bool read_all(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= size_t(r);
  }
  return true;
}

// Buffers small values and writes large blocks (image bytes) straight through. `ok` turns false
// at the first failed write; later calls do nothing.
struct WireOut {
  explicit WireOut(int f) : fd(f) {}
  int fd;
  std::string buf;
  bool ok = true;

  void bytes(const void* data, size_t n) {
    if (n >= (size_t(1) << 16)) {
      flush();
      if (ok) ok = write_all(fd, static_cast<const char*>(data), n);
      return;
    }
    buf.append(static_cast<const char*>(data), n);
    if (buf.size() >= (size_t(1) << 20)) flush();
  }
  template <class T>
  void put(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  bool flush() {
    if (ok && !buf.empty()) ok = write_all(fd, buf.data(), buf.size());
    buf.clear();
    return ok;
  }
};

// Reads values; `ok` turns false at end of stream or a read error.
struct WireIn {
  explicit WireIn(int f) : fd(f) {}
  int fd;
  bool ok = true;

  bool bytes(void* data, size_t n) { return ok = ok && read_all(fd, static_cast<char*>(data), n); }
  template <class T>
  T get() {
    T v{};
    bytes(&v, sizeof v);
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    // A length this large is a broken stream, not a message.
    if (!ok || n > (uint64_t(1) << 32)) return ok = false, std::string();
    std::string s(n, '\0');
    bytes(s.data(), n);
    return s;
  }
};

constexpr uint8_t kOk = 0, kFailed = 1;

// ---- processes ----

// "exit code 3", "signal 9": how a worker ended, from waitpid's status (-1: unknown).
std::string describe_status(int status) {
  if (status == -1) return "status unknown";
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Waits for `pid` to end, up to `timeout`, then kills it; returns waitpid's status (-1 when the
// child was reaped elsewhere, e.g. with SIGCHLD ignored).
int reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) break;
    ::usleep(2000);
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

std::string resolve_worker_exe(const std::string& exe) {
  if (exe.empty()) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    XOMNI_CHECK(!ec, "reward pool: cannot read /proc/self/exe (", ec.message(),
                "); set RewardPoolOptions::worker_exe to the xomni executable");
    return self.string();
  }
  if (::access(exe.c_str(), X_OK) != 0) {
    const int err = errno;
    throw Error("reward pool: the worker executable '" + exe + "' " +
                (err == ENOENT ? std::string("does not exist")
                               : "cannot be run (" + std::string(std::strerror(err)) + ")") +
                "; set RewardPoolOptions::worker_exe to the xomni executable");
  }
  return exe;
}

// The trainer's environment with OpenMP capped at one thread (Tesseract is several times slower
// with more on a shared machine) and without the MPI launcher's variables: a worker is not a rank.
std::vector<std::string> worker_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view v(*e);
    const auto starts = [&](std::string_view p) { return v.substr(0, p.size()) == p; };
    if (starts("OMP_THREAD_LIMIT=") || starts("OMP_NUM_THREADS=") || starts("OMPI_") ||
        starts("PMIX_") || starts("PMI_"))
      continue;
    env.emplace_back(v);
  }
  env.emplace_back("OMP_THREAD_LIMIT=1");
  env.emplace_back("OMP_NUM_THREADS=1");
  return env;
}

// Starts `exe reward-worker rewards` with one end of a socket pair as its stdin and stdout;
// returns the pid and the other end.
std::pair<pid_t, int> spawn_worker(const std::string& exe, const std::string& rewards) {
  int sv[2];
  // CLOEXEC: a later worker (or anything the trainer spawns) must not hold this worker's socket,
  // or the pool would never see end-of-stream when the worker dies.
  XOMNI_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
              "reward pool: socketpair failed: ", std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 1);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  // Nothing else of the trainer's (MPI's sockets, open files without CLOEXEC) goes with it.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // Its own process group: Ctrl-C at the terminal reaches the trainer (which may stop cleanly
  // and still wait for scores), not the workers; they end when the pool closes their socket.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  std::vector<std::string> args = {exe, "reward-worker", rewards};
  std::vector<std::string> env = worker_environment();
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    throw Error("reward pool: cannot start the reward worker '" + exe + " reward-worker " +
                rewards + "': " + std::strerror(rc));
  }
  return {pid, sv[0]};
}

// Whether every plugin of the job file says score() may run concurrently (loads the libraries,
// creates nothing).
bool all_thread_safe(const std::string& rewards) {
  for (const plugins::RewardSpec& s : plugins::RewardSet::load_specs(rewards))
    if (!plugins::RewardPlugin::load(s.plugin)->thread_safe()) return false;
  return true;
}

std::string sample_range(size_t start, size_t count, size_t n) {
  return "samples " + std::to_string(start) + ".." + std::to_string(start + count - 1) + " of " +
         std::to_string(n);
}

}  // namespace

struct RewardPool::Batch {
  std::vector<Image> images;
  std::vector<std::string> prompts, metadata, tasks;  // tasks: one per sample, "" = every reward
  plugins::RewardScores out;
  int pending = 0;                  // chunks not yet finished
  std::vector<std::string> errors;  // every chunk's error, in the order they came
};

namespace {
struct Chunk {
  int64_t ticket = 0;
  std::shared_ptr<RewardPool::Batch> batch;
  size_t start = 0, count = 0;
};
}  // namespace

struct RewardPool::Worker {
  pid_t pid = -1;
  int fd = -1;  // the pool's end of the worker's stdin/stdout
  std::thread thread;
  // Guarded by the pool's mutex:
  std::deque<Chunk> queue;
  bool busy = false;     // a chunk is in flight
  bool reaping = false;  // its thread is waiting for it to end: its pid must not be signalled
  bool reaped = false;
  // Written and read by its thread only, once it is running:
  std::string death;  // "exited (signal 9) while scoring batch ...", once it has
};

RewardPool::RewardPool(const RewardPoolOptions& options) {
  XOMNI_CHECK(options.workers >= 0, "RewardPoolOptions::workers is ", options.workers,
              "; use >= 1 worker processes, or 0 to score in this process");
  XOMNI_CHECK(!options.rewards.empty(), "RewardPoolOptions::rewards is empty; name the reward ",
              "job file");
  int count = options.workers;
  if (count == 0) {
    if (all_thread_safe(options.rewards)) {
      in_process_ = std::make_unique<plugins::RewardSet>(plugins::RewardSet::load(options.rewards));
      sub_score_names_ = in_process_->sub_score_names();
      in_process_thread_ = std::thread([this] { in_process_loop(); });
      return;
    }
    count = 1;  // a plugin that is not thread-safe (ocr) gets a process of its own
  }
  const std::string exe = resolve_worker_exe(options.worker_exe);
  try {
    for (int i = 0; i < count; ++i) {
      auto w = std::make_unique<Worker>();
      std::tie(w->pid, w->fd) = spawn_worker(exe, options.rewards);
      workers_.push_back(std::move(w));
    }
    // Every worker loads the set, then says ready (with the sub-score names) or why not.
    for (const auto& w : workers_) {
      WireIn in{w->fd};
      const uint8_t status = in.get<uint8_t>();
      std::vector<std::string> names;
      std::string error;
      if (status == kOk) {
        const uint64_t k = in.get<uint64_t>();
        for (uint64_t j = 0; in.ok && j < k; ++j) names.push_back(in.str());
      } else {
        error = in.str();
      }
      if (!in.ok) {
        const int s = reap(w->pid, std::chrono::seconds(5));
        w->reaped = true;
        throw Error("reward worker " + std::to_string(w->pid) + " (" + exe + " reward-worker " +
                    options.rewards + ") exited (" + describe_status(s) +
                    ") before reporting ready; its stderr, above, may say why");
      }
      XOMNI_CHECK(status == kOk, "reward worker ", w->pid, " could not load ", options.rewards,
                  ": ", error);
      if (w == workers_.front()) sub_score_names_ = names;
      XOMNI_CHECK(names == sub_score_names_, "reward worker ", w->pid,
                  " reports other sub-scores than worker ", workers_.front()->pid,
                  " for the same job file ", options.rewards, "; is the plugin file changing?");
    }
  } catch (...) {
    shutdown();
    throw;
  }
  for (const auto& w : workers_) w->thread = std::thread([this, p = w.get()] { worker_loop(*p); });
}

RewardPool::~RewardPool() {
  shutdown();
}

void RewardPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // A chunk in flight is not wanted any more: end its worker rather than wait for it.
    for (const auto& w : workers_)
      if (w->busy && !w->reaping && !w->reaped) ::kill(w->pid, SIGKILL);
  }
  work_cv_.notify_all();
  for (const auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (in_process_thread_.joinable()) in_process_thread_.join();
  for (const auto& w : workers_) {
    // End of stream on its stdin: an idle worker exits 0.
    if (w->fd >= 0) ::close(w->fd);
    w->fd = -1;
    if (!w->reaped) reap(w->pid, std::chrono::seconds(5));
    w->reaped = true;
  }
}

const std::vector<std::string>& RewardPool::sub_score_names() const {
  return sub_score_names_;
}

std::vector<int> RewardPool::worker_pids() const {
  std::vector<int> pids;
  for (const auto& w : workers_) pids.push_back(int(w->pid));
  return pids;
}

int64_t RewardPool::submit(std::vector<Image> images, std::vector<std::string> prompts,
                           std::vector<std::string> metadata, std::vector<std::string> tasks) {
  const size_t n = images.size();
  XOMNI_CHECK(prompts.size() == n && (metadata.empty() || metadata.size() == n) &&
                  (tasks.empty() || tasks.size() == n),
              "RewardPool::submit: ", n, " images, ", prompts.size(), " prompts, ", metadata.size(),
              " metadata entries and ", tasks.size(),
              " tasks; give one prompt (and metadata and a task, or none) per image");
  for (size_t i = 0; i < n; ++i) {
    const Image& im = images[i];
    check_image_size(im.width, im.height, "RewardPool::submit: sample " + std::to_string(i));
    XOMNI_CHECK(im.width <= INT32_MAX && im.height <= INT32_MAX &&
                    im.rgb.size() == size_t(3 * im.width * im.height),
                "RewardPool::submit: sample ", i, " is ", im.width, "x", im.height, " with ",
                im.rgb.size(), " bytes; an RGB8 image needs 3 * width * height");
  }
  if (metadata.empty()) metadata.assign(n, "");
  if (tasks.empty()) tasks.assign(n, "");
  auto batch = std::make_shared<Batch>();
  batch->images = std::move(images);
  batch->prompts = std::move(prompts);
  batch->metadata = std::move(metadata);
  batch->tasks = std::move(tasks);
  batch->out.scores.assign(n, 0.0f);
  batch->out.sub_score_names = sub_score_names_;
  batch->out.sub_scores.assign(n * sub_score_names_.size(), 0.0f);

  std::lock_guard<std::mutex> lock(mu_);
  const int64_t ticket = next_ticket_++;
  batches_[ticket] = batch;
  if (n == 0) return ticket;
  if (in_process_) {
    batch->pending = 1;
    in_process_queue_.emplace_back(ticket, batch);
  } else {
    // Contiguous chunks, the first on a different worker each batch so that small batches
    // spread too.
    const size_t count = workers_.size();
    const size_t chunk = (n + count - 1) / count;
    for (size_t j = 0; j * chunk < n; ++j) {
      Worker& w = *workers_[(j + size_t(ticket)) % count];
      w.queue.push_back({ticket, batch, j * chunk, std::min(chunk, n - j * chunk)});
      ++batch->pending;
    }
  }
  work_cv_.notify_all();
  return ticket;
}

plugins::RewardScores RewardPool::wait(int64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto it = batches_.find(ticket);
  XOMNI_CHECK(it != batches_.end(), "RewardPool::wait: batch ", ticket,
              " was never submitted or was already waited for");
  const std::shared_ptr<Batch> batch = it->second;
  done_cv_.wait(lock, [&] { return batch->pending == 0; });
  batches_.erase(it);
  if (!batch->errors.empty()) {
    std::string text = batch->errors[0];
    for (size_t i = 1; i < batch->errors.size(); ++i) text += "\nand: " + batch->errors[i];
    throw Error(text);
  }
  return std::move(batch->out);
}

void RewardPool::finish_chunk(Batch& batch, const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error.empty()) batch.errors.push_back(error);
    --batch.pending;
  }
  done_cv_.notify_all();
}

void RewardPool::worker_loop(Worker& w) {
  const size_t k = sub_score_names_.size();
  for (;;) {
    Chunk c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !w.queue.empty(); });
      if (stopping_) return;
      c = std::move(w.queue.front());
      w.queue.pop_front();
      w.busy = true;
    }
    Batch& b = *c.batch;
    const size_t n = b.images.size();
    const std::string where =
        "batch " + std::to_string(c.ticket) + " (" + sample_range(c.start, c.count, n) + ")";
    std::string error;
    if (!w.death.empty()) {
      error = "reward worker " + std::to_string(w.pid) + " was gone before " + where + ": it had " +
              w.death;
    } else {
      WireOut out{w.fd};
      out.put<uint64_t>(c.count);
      for (size_t i = c.start; i < c.start + c.count; ++i) {
        const Image& im = b.images[i];
        out.put<int64_t>(im.width);
        out.put<int64_t>(im.height);
        out.bytes(im.rgb.data(), im.rgb.size());
        out.str(b.prompts[i]);
        out.str(b.metadata[i]);
        out.str(b.tasks[i]);
      }
      out.flush();
      // A failed write means the worker is gone; its end of stream, read next, says so too.
      WireIn in{w.fd};
      const uint8_t status = in.get<uint8_t>();
      if (in.ok && status == kOk) {
        in.bytes(b.out.scores.data() + c.start, c.count * sizeof(float));
        in.bytes(b.out.sub_scores.data() + c.start * k, c.count * k * sizeof(float));
      } else if (in.ok) {
        const std::string text = in.str();
        if (in.ok)
          error = text + " (in reward worker " + std::to_string(w.pid) + ", scoring " + where +
                  (c.start > 0
                       ? "; sample numbers above count from sample " + std::to_string(c.start) + ")"
                       : ")");
      }
      if (!in.ok) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          w.reaping = true;
        }
        const int s = reap(w.pid, std::chrono::seconds(5));
        ::close(w.fd);
        {
          std::lock_guard<std::mutex> lock(mu_);
          w.fd = -1;
          w.reaped = true;
        }
        w.death = "exited (" + describe_status(s) + ") while scoring " + where;
        error = "reward worker " + std::to_string(w.pid) + " " + w.death +
                "; its stderr, above, may say why. The pool does not restart workers: make a "
                "new RewardPool";
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      w.busy = false;
    }
    finish_chunk(b, error);
  }
}

void RewardPool::in_process_loop() {
  for (;;) {
    std::shared_ptr<Batch> batch;
    int64_t ticket = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !in_process_queue_.empty(); });
      if (stopping_) return;
      ticket = in_process_queue_.front().first;
      batch = std::move(in_process_queue_.front().second);
      in_process_queue_.erase(in_process_queue_.begin());
    }
    std::string error;
    try {
      std::vector<XomniImage> views;
      for (const Image& im : batch->images) views.push_back(plugins::reward_view(im));
      batch->out = in_process_->score(views, batch->prompts, batch->metadata, batch->tasks);
    } catch (const std::exception& e) {
      error =
          std::string(e.what()) + " (scoring batch " + std::to_string(ticket) + " in this process)";
    }
    finish_chunk(*batch, error);
  }
}

int run_reward_worker(const std::string& rewards) {
  // The protocol owns the original stdin/stdout; anything a plugin prints goes to stderr.
  const int in_fd = ::dup(0), out_fd = ::dup(1);
  XOMNI_CHECK(in_fd >= 0 && out_fd >= 0,
              "reward-worker: cannot duplicate stdin/stdout: ", std::strerror(errno));
  ::fcntl(in_fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(out_fd, F_SETFD, FD_CLOEXEC);
  ::dup2(2, 1);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) ::dup2(null_fd, 0), ::close(null_fd);

  WireOut out{out_fd};
  std::unique_ptr<plugins::RewardSet> set;
  try {
    set = std::make_unique<plugins::RewardSet>(plugins::RewardSet::load(rewards));
  } catch (const std::exception& e) {
    out.put(kFailed);
    out.str(e.what());
    out.flush();
    return 1;
  }
  const std::vector<std::string> names = set->sub_score_names();
  out.put(kOk);
  out.put<uint64_t>(names.size());
  for (const std::string& s : names) out.str(s);
  if (!out.flush()) return 1;

  WireIn in{in_fd};
  for (;;) {
    const uint64_t n = in.get<uint64_t>();
    if (!in.ok) return 0;  // the pool closed the stream: stop
    std::vector<Image> images(n);
    std::vector<std::string> prompts(n), metadata(n), tasks(n);
    for (uint64_t i = 0; i < n && in.ok; ++i) {
      const int64_t w = in.get<int64_t>(), h = in.get<int64_t>();
      if (!in.ok) break;
      check_image_size(w, h, "reward-worker: sample " + std::to_string(i) + " of a chunk");
      images[i].width = w, images[i].height = h;
      images[i].rgb.resize(size_t(3 * w * h));
      in.bytes(images[i].rgb.data(), images[i].rgb.size());
      prompts[i] = in.str();
      metadata[i] = in.str();
      tasks[i] = in.str();
    }
    XOMNI_CHECK(in.ok, "reward-worker: the pool's stream ended inside a chunk");
    try {
      std::vector<XomniImage> views;
      for (const Image& im : images) views.push_back(plugins::reward_view(im));
      const plugins::RewardScores s = set->score(views, prompts, metadata, tasks);
      out.put(kOk);
      out.bytes(s.scores.data(), s.scores.size() * sizeof(float));
      out.bytes(s.sub_scores.data(), s.sub_scores.size() * sizeof(float));
    } catch (const std::exception& e) {
      out.put(kFailed);
      out.str(e.what());
    }
    if (!out.flush()) return 1;
  }
}

}  // namespace xomni::rl
