// Describing plugin libraries for listing, in-process or in a forked child (see plugin_probe.h).
#include "xomni/plugins/plugin_probe.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "xomni/core/tensor/error.h"
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/reward_plugin.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::plugins {
namespace {

// A component's description; the versions are checked here only to say why it is unusable.
void describe_component(const XomniComponentPlugin* c, PluginDescription& d) {
  XOMNI_CHECK(c, XOMNI_COMPONENT_ENTRY, "() returned NULL");
  d.kind = c->kind ? c->kind : "?";
  d.name = c->name ? c->name : "?";
  d.version = c->version ? c->version : "?";
  if (c->abi_version != XOMNI_COMPONENT_ABI_VERSION)
    d.note = "unusable: component ABI version " + std::to_string(c->abi_version) +
             ", this xomni uses " + std::to_string(XOMNI_COMPONENT_ABI_VERSION) + "; rebuild it";
  else if (!c->build_fingerprint || std::string(c->build_fingerprint) != XOMNI_BUILD_FINGERPRINT)
    d.note = std::string("unusable: built with ") +
             (c->build_fingerprint ? c->build_fingerprint : "?") + ", this xomni is " +
             XOMNI_BUILD_FINGERPRINT + "; rebuild it";
}

// The child's answer: the four fields as <u32 length><bytes>. Length-prefixed, so the parent
// knows when it is complete even if a grandchild still holds the pipe open.
std::string encode(const PluginDescription& d) {
  std::string out;
  for (const std::string* s : {&d.kind, &d.name, &d.version, &d.note}) {
    const uint32_t n = uint32_t(s->size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out += *s;
  }
  return out;
}

// The decoded answer, or nothing while `bytes` is incomplete.
std::optional<PluginDescription> decode(const std::string& bytes, const std::string& path) {
  PluginDescription d;
  d.file = path;
  size_t at = 0;
  for (std::string* s : {&d.kind, &d.name, &d.version, &d.note}) {
    uint32_t n = 0;
    if (bytes.size() - at < sizeof n) return std::nullopt;
    std::memcpy(&n, bytes.data() + at, sizeof n);
    at += sizeof n;
    if (bytes.size() - at < n) return std::nullopt;
    s->assign(bytes, at, n);
    at += n;
  }
  return d;
}

void write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent gave up on us; nothing else to do
    done += size_t(n);
  }
}

// Runs in the forked child: describe, answer, and leave without running the parent's atexit
// handlers or flushing its copy of stdio buffers (_exit).
[[noreturn]] void child_main(int fd, const std::string& path) {
  // Whatever the library prints goes to stderr, so the caller's listing on stdout stays clean.
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  PluginDescription d;
  try {
    d = describe_plugin_library(path);
  } catch (...) {
    d.note = "cannot load: an exception that is not a std::exception";
  }
  write_all(fd, encode(d));
  ::close(fd);
  ::_exit(0);
}

std::string signal_text(int sig) {
  const char* name = ::strsignal(sig);
  return "signal " + std::to_string(sig) + (name ? std::string(", ") + name : "");
}

}  // namespace

PluginDescription describe_plugin_library(const std::string& path) {
  PluginDescription d;
  d.file = path;
  try {
    auto lib = std::make_unique<SharedLibrary>(path);
    if (void* sym = lib->find(XOMNI_COMPONENT_ENTRY)) {
      describe_component(reinterpret_cast<XomniComponentEntry>(sym)(), d);
    } else if (lib->find(XOMNI_REWARD_ENTRY)) {
      const RewardPlugin reward(std::move(lib));  // checks the ABI version and fields
      d.kind = "reward";
      d.name = reward.name();
      d.version = reward.version();
      d.note = reward.description();
    } else {
      d.note = std::string("not a plugin: exports neither ") + XOMNI_COMPONENT_ENTRY + " nor " +
               XOMNI_REWARD_ENTRY;
    }
  } catch (const std::exception& e) {
    d.note = std::string("cannot load: ") + e.what();
  }
  return d;
}

PluginDescription probe_plugin_library(const std::string& path, double timeout_s) {
  XOMNI_CHECK(std::isfinite(timeout_s) && timeout_s > 0 && timeout_s <= 86400,
              "probing plugin library ", path,
              ": the timeout must be a number of seconds in (0, 86400], not ", timeout_s);
  PluginDescription failed;
  failed.file = path;
  int fds[2];
  if (::pipe(fds) != 0) {
    failed.note = path + ": cannot probe it (pipe: " + std::strerror(errno) + ")";
    return failed;
  }
  // A child that exits through exit() (a constructor may call it) flushes its copy of the
  // caller's stdio buffers; flushed now, they are empty and nothing is printed twice.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    failed.note = path + ": cannot probe it (fork: " + std::strerror(errno) + ")";
    ::close(fds[0]);
    ::close(fds[1]);
    return failed;
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], path);
  }
  ::close(fds[1]);

  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(timeout_s));
  auto ms_left = [&] {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return int(std::max<int64_t>(0, left.count()));
  };
  // Read until the answer is complete, the pipe closes (the child ended) or time is up.
  std::string bytes;
  std::optional<PluginDescription> answer;
  while (!answer) {
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left());
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, size_t(n));
    answer = decode(bytes, path);
  }
  ::close(fds[0]);

  // Reap the child; it has answered or is ending, unless it hangs (then it is killed).
  int status = 0;
  bool reaped = false, status_lost = false;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      reaped = true;
      break;
    }
    if (w < 0 && errno != EINTR) {  // reaped elsewhere (SIGCHLD ignored): no status to read
      status_lost = true;
      break;
    }
    if (ms_left() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!reaped && !status_lost) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (answer) return *answer;  // what it said counts, even if it hung or crashed on the way out

  std::ostringstream why;
  why << path << ": ";
  if (status_lost)
    why << "ended without describing itself while loading (its exit status is unknown)";
  else if (!reaped)
    why << "still loading after " << timeout_s
        << " s, stopped (a constructor or its entry point hangs?); fix the library or take it "
           "off the plugin path";
  else if (WIFSIGNALED(status))
    why << "crashed while loading (" << signal_text(WTERMSIG(status))
        << "); fix the library or take it off the plugin path";
  else if (WIFEXITED(status))
    why << "ended the process with exit status " << WEXITSTATUS(status)
        << " while loading (a constructor calls exit?); fix the library or take it off the "
           "plugin path";
  else
    why << "stopped while loading without describing itself";
  failed.note = why.str();
  return failed;
}

}  // namespace xomni::plugins
