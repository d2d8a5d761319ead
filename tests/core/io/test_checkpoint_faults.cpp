// Checkpoint faults whose damage showed at the process's exit. A checkpoint that runs out of room
// (a file-size limit, a full file system) fails with one clear error naming the file and the
// reason, leaves no .tmp and no earlier checkpoint lost, and the process still exits cleanly:
// HDF5 1.10 crashed at exit in its close of a file whose flush had failed, after printing pages of
// diagnostics. Reading a checkpoint with damaged metadata leaves the exit silent (HDF5 printed
// "infinite loop closing library"). Each case runs in a forked child so that its exit is part of
// what is checked.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "check.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::contains;

// Under LeakSanitizer a child's exit would also run a leak check over the parent's test state,
// which is not what these tests look at; its exit status must say only how the exit went.
namespace {
bool in_child = false;
}  // namespace
extern "C" int __lsan_is_turned_off() {
  return in_child ? 1 : 0;
}

namespace {

class CheckpointFaults : public xomni::test::TempDirTest {};

// Tensors of about 40 KB in all, made before any fork (the child only writes).
std::vector<Tensor> payload() {
  std::vector<Tensor> out;
  for (int i = 0; i < 10; ++i) {
    std::vector<float> v(1000);
    for (size_t k = 0; k < v.size(); ++k) v[k] = float(i * 1000 + int(k));
    out.push_back(Tensor::from_vector<float>(v, {1000}));
  }
  return out;
}

void write_checkpoint(const std::string& dir, int64_t step, const std::vector<Tensor>& tensors) {
  CheckpointWriter w(dir, step);
  for (size_t i = 0; i < tensors.size(); ++i)
    w.write_tensor("model/t" + std::to_string(i), tensors[i]);
  w.set_config(std::string(3000, '#') + "\n");
  w.set_metadata("layout", "tp1");
  w.commit();
}

struct ChildResult {
  bool exited_cleanly = false;  // exit status 0, no signal
  std::string message;          // "committed", or the error
  std::string how;              // the wait status, for failure messages
  std::string err;              // what the child wrote to stderr (when captured)
};

// Runs `fn` in a child that then exits (running HDF5's exit handler); returns what `fn` returned,
// the child's stderr and how it ended.
ChildResult run_in_child(const std::function<std::string()>& fn) {
  int out[2], err[2];
  EXPECT_EQ(::pipe(out), 0);
  EXPECT_EQ(::pipe(err), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    in_child = true;
    ::close(out[0]);
    ::close(err[0]);
    ::dup2(err[1], 2);
    const std::string message = fn();
    [[maybe_unused]] ssize_t n = ::write(out[1], message.data(), message.size());
    ::close(out[1]);
    std::exit(0);
  }
  ::close(out[1]);
  ::close(err[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) r.message.append(buf, size_t(n));
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) r.err.append(buf, size_t(n));
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exited_cleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  r.how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : "exit status " + std::to_string(WEXITSTATUS(status));
  return r;
}

// Runs write_checkpoint(dir, step) in a child process under a file-size limit of `limit` bytes
// (0: none), with SIGXFSZ ignored so that writes past it fail with EFBIG.
ChildResult write_in_child(const std::string& dir, int64_t step, const std::vector<Tensor>& t,
                           rlim_t limit) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    in_child = true;
    ::close(fds[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    if (limit > 0) {
      rlimit r{};
      ::getrlimit(RLIMIT_FSIZE, &r);
      r.rlim_cur = limit;
      ::setrlimit(RLIMIT_FSIZE, &r);
    }
    std::string message = "committed";
    try {
      write_checkpoint(dir, step, t);
    } catch (const std::exception& e) {
      message = e.what();
    }
    [[maybe_unused]] ssize_t n = ::write(fds[1], message.data(), message.size());
    ::close(fds[1]);
    std::exit(0);  // runs HDF5's exit handler: where the crash was
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) r.message.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exited_cleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  r.how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : "exit status " + std::to_string(WEXITSTATUS(status));
  return r;
}

bool has_tmp_file(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tmp") return true;
  return false;
}

}  // namespace

// Every limit from one that stops the file's creation to one past its full size gives either a
// valid checkpoint or one clean error; the failures cover each phase of the write.
TEST_F(CheckpointFaults, EveryFileSizeLimitGivesAValidCheckpointOrOneCleanError) {
  const std::vector<Tensor> t = payload();
  const std::string dir = sub("ckpts");
  ASSERT_TRUE(write_in_child(dir, 1, t, 0).exited_cleanly);
  const std::string earlier = checkpoint_path(dir, 1);
  const std::string tmp = checkpoint_path(dir, 2) + ".tmp";
  std::set<std::string> phases;
  int committed = 0, failed = 0;
  for (rlim_t limit = 1024; limit <= 128 * 1024; limit += 3 * 1024) {
    fs::remove(checkpoint_path(dir, 2));
    const ChildResult r = write_in_child(dir, 2, t, limit);
    SCOPED_TRACE("limit " + std::to_string(limit) + ": " + r.message);
    EXPECT_TRUE(r.exited_cleanly) << r.how;
    EXPECT_FALSE(has_tmp_file(dir));
    EXPECT_EQ(checkpoint_problem(earlier), "");
    if (r.message == "committed") {
      ++committed;
      EXPECT_EQ(checkpoint_problem(checkpoint_path(dir, 2)), "");
      continue;
    }
    ++failed;
    EXPECT_TRUE(contains(r.message, tmp)) << "the error names the file";
    EXPECT_TRUE(contains(r.message, "file too large")) << "the error says why";
    EXPECT_FALSE(contains(r.message, "HDF5")) << "the system's reason, not HDF5's stack";
    EXPECT_FALSE(fs::exists(checkpoint_path(dir, 2)));
    for (const char* phase : {"cannot create tensor", "cannot finish writing", "flush failed",
                              "cannot write", "cannot create"})
      if (contains(r.message, phase)) {
        phases.insert(phase);
        break;
      }
  }
  EXPECT_GT(committed, 0);
  EXPECT_GT(failed, 3);
  EXPECT_GE(phases.size(), 2u) << "the limits should stop the write in different phases";
  // The process that ran none of it still writes and reads checkpoints.
  write_checkpoint(dir, 3, t);
  EXPECT_EQ(checkpoint_problem(checkpoint_path(dir, 3)), "");
}

// A file system that fills up: the error says "no space left on device" and names the file.
// Needs a small tmpfs, so it runs where mounting one is allowed (as root) and is skipped elsewhere.
TEST_F(CheckpointFaults, FullFileSystemSaysNoSpaceLeftOnDevice) {
  const std::string mnt = sub("small_fs");
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=32k") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << std::strerror(errno);
  const std::vector<Tensor> t = payload();
  const std::string dir = mnt + "/ckpts";
  const ChildResult r = write_in_child(dir, 7, t, 0);
  const bool tmp_left = fs::exists(dir) && has_tmp_file(dir);
  ::umount2(mnt.c_str(), MNT_DETACH);
  EXPECT_TRUE(r.exited_cleanly) << r.how;
  EXPECT_TRUE(contains(r.message, checkpoint_path(dir, 7) + ".tmp")) << r.message;
  EXPECT_TRUE(contains(r.message, "no space left on device")) << r.message;
  EXPECT_FALSE(tmp_left);
}

// Checkpoints with one bit of their metadata flipped (object headers, links, heaps: the first
// 16 KB) are reported as damaged, and the process that read them says nothing more at its exit.
TEST_F(CheckpointFaults, DamagedMetadataLeavesTheExitSilent) {
  const std::string dir = sub("ckpts");
  ASSERT_TRUE(write_in_child(dir, 1, payload(), 0).exited_cleanly);
  const std::string good = checkpoint_path(dir, 1);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int damaged = 0;
  for (size_t off = 40; off < std::min<size_t>(bytes.size(), 16384) && damaged < 6; off += 97) {
    std::string copy = bytes;
    copy[off] = char(copy[off] ^ 0x10);
    const std::string path = sub("flipped.h5");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << copy;
    const ChildResult r = run_in_child([&] { return checkpoint_problem(path); });
    SCOPED_TRACE("byte " + std::to_string(off) + ": " + r.message);
    EXPECT_TRUE(r.exited_cleanly) << r.how;
    EXPECT_EQ(r.err, "") << "the child printed at its exit";
    if (!r.message.empty()) ++damaged;
  }
  EXPECT_GE(damaged, 3) << "too few flips were noticed to show anything";
}
