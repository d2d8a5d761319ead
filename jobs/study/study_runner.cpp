#include "study/study_runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/stopwatch.h"
#include "study/study_stages.h"
#include "xomni/core/tensor/error.h"

namespace xomni::study {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Args = std::vector<std::string>;

volatile sig_atomic_t g_signal = 0;
volatile pid_t g_child = 0;

// Passes the signal on to the running command (it is in its own process group, so a Ctrl-C at
// the terminal reaches it only through here, once).
void on_signal(int sig) {
  g_signal = sig;
  if (g_child > 0) ::kill(g_child, sig);
}

struct SignalGuard {
  struct sigaction old_int {
  }, old_term{}, old_hup{};
  SignalGuard() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    ::sigaction(SIGHUP, &sa, &old_hup);
  }
  ~SignalGuard() {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
  }
};

std::string duration_text(double s) {
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string clock_in(double s) {
  const std::time_t at = std::time(nullptr) + std::time_t(s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M", std::localtime(&at));
  return buf;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string quoted(const Args& a) {
  std::string s;
  for (const auto& x : a) {
    const bool plain = x.find_first_of(" \t\"'$\\") == std::string::npos && !x.empty();
    s += (s.empty() ? "" : " ") + (plain ? x : "'" + x + "'");
  }
  return s;
}

Json read_json_or_null(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return nullptr;
  try {
    return Json::parse(in);
  } catch (const Json::exception&) {
    return nullptr;  // a torn write: the stage counts as not done
  }
}

// Writes `j` to `p` through a temporary file and a rename, so a reader never sees half of it.
void write_json_atomic(const fs::path& p, const Json& j) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp);
    XOMNI_CHECK(out, "cannot write ", tmp.string());
    out << j.dump(2) << "\n";
    XOMNI_CHECK(out.good(), "cannot write ", tmp.string());
  }
  fs::rename(tmp, p);
}

// The last `n` lines of a file.
std::string tail(const fs::path& p, size_t n) {
  std::ifstream in(p);
  std::deque<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
    if (lines.size() > n) lines.pop_front();
  }
  std::string s;
  for (const auto& l : lines) s += "    " + l + "\n";
  return s;
}

// Runs `exe args` to completion; its output is appended to `log` (or inherited when log is
// empty). Returns the wait status.
int run_command(const std::string& exe, const Args& args, const std::string& log) {
  int fd = -1;
  if (!log.empty()) {
    fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    XOMNI_CHECK(fd >= 0, "cannot open the stage log ", log, ": ", std::strerror(errno));
    const std::string head = "=== " + now_iso() + " xomni " + quoted(args) + "\n";
    (void)!::write(fd, head.data(), head.size());
  }
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  XOMNI_CHECK(pid >= 0, "cannot start a stage command: fork failed: ", std::strerror(errno));
  if (pid == 0) {
    // Its own process group (signals reach it once, through the pipeline), and it ends with
    // the pipeline if that is killed outright.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(exe.c_str(), argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", exe.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  g_child = pid;
  if (g_signal) ::kill(pid, g_signal);  // a signal that came before the child existed
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  if (fd >= 0) ::close(fd);
  return status;
}

std::string status_text(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

Json commands_json(const std::vector<Args>& cmds) {
  Json a = Json::array();
  for (const auto& c : cmds) a.push_back(c);
  return a;
}

// Holds an exclusive lock on <seed root>/.lock: two pipelines on one study would overwrite each
// other's stages.
struct StudyLock {
  int fd = -1;
  explicit StudyLock(const std::string& root) {
    const std::string p = root + "/.lock";
    fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    XOMNI_CHECK(fd >= 0, "cannot open ", p, ": ", std::strerror(errno));
    XOMNI_CHECK(::flock(fd, LOCK_EX | LOCK_NB) == 0, root, " is in use by another xomni pipeline (",
                p,
                " is locked); wait for it or give "
                "this one another study.root or study.seed");
  }
  ~StudyLock() {
    if (fd >= 0) ::close(fd);
  }
};

struct StageRecord {
  std::string name, kind, status = "pending";
  double wall_s = 0;
};

void write_study_json(const StudyFile& s, const std::vector<StageRecord>& records) {
  Json stages = Json::array(), settings = Json::object();
  for (const auto& r : records) {
    stages.push_back({{"name", r.name},
                      {"kind", r.kind},
                      {"status", r.status},
                      {"wall_s", r.wall_s},
                      {"dir", r.name}});
    const StageSettings& st = s.stages.at(r.name);
    Json one = {{"set", st.set}, {"args", st.args}};
    if (!st.job.empty()) one["job"] = st.job;
    for (const auto& [k, v] : st.values) one[k] = v;
    for (const auto& [k, v] : st.lists) one[k] = v;
    settings[r.name] = one;
  }
  write_json_atomic(fs::path(s.seed_root()) / "study.json", {{"name", s.name},
                                                             {"scale", s.scale},
                                                             {"seed", s.seed},
                                                             {"study_file", s.path},
                                                             {"updated", now_iso()},
                                                             {"stages", stages},
                                                             {"settings", settings}});
}

int dry_run(const StudyFile& s, const std::vector<StageInfo>& plan, const std::string& exe) {
  std::printf("# study %s, scale %s, seed %lld: %s\n", s.name.c_str(), s.scale.c_str(),
              (long long)s.seed, s.seed_root().c_str());
  for (size_t i = 0; i < plan.size(); ++i) {
    std::printf("# %zu/%zu %s: %s\n", i + 1, plan.size(), plan[i].name.c_str(),
                plan[i].summary.c_str());
    for (const Args& c : stage_commands(s, plan[i].name, /*dry_run=*/true))
      std::printf("%s %s\n", exe.c_str(), quoted(c).c_str());
  }
  return 0;
}

}  // namespace

int run_study(const StudyFile& s, const RunOptions& o) {
  const std::string exe = o.exe.empty() ? fs::read_symlink("/proc/self/exe").string() : o.exe;
  const std::vector<StageInfo> plan = planned_stages(s);
  XOMNI_CHECK(!plan.empty(), s.path, ": names no stage of the recipe");
  if (o.dry_run) return dry_run(s, plan, exe);

  fs::create_directories(s.seed_root());
  StudyLock lock(s.seed_root());
  SignalGuard signals;
  g_signal = 0;
  std::vector<StageRecord> records;
  for (const StageInfo& st : plan) records.push_back({st.name, st.kind});
  double expected_left = 0;
  for (const StageInfo& st : plan) expected_left += s.stages.at(st.name).expect_s;
  double spent_run = 0, expected_run = 0;  // stages run in this invocation: actual and expected
  const auto study_t0 = jobs::Clock::now();
  std::printf("[pipeline] study %s, scale %s, seed %lld: %zu stages in %s\n", s.name.c_str(),
              s.scale.c_str(), (long long)s.seed, plan.size(), s.seed_root().c_str());

  for (size_t i = 0; i < plan.size(); ++i) {
    const StageInfo& st = plan[i];
    StageRecord& rec = records[i];
    const StageSettings& settings = s.stages.at(st.name);
    const fs::path dir = stage_dir(s, st.name);
    const fs::path marker = dir / "stage.json";
    const std::string tag =
        "[pipeline " + std::to_string(i + 1) + "/" + std::to_string(plan.size()) + "] " + st.name;
    expected_left -= settings.expect_s;
    const std::vector<Args> cmds = stage_commands(s, st.name, false);
    const Json saved = read_json_or_null(marker);
    if (!st.always_run && saved.is_object() && saved.value("status", "") == "done") {
      XOMNI_CHECK(saved.value("commands", Json()) == commands_json(cmds), tag,
                  " finished earlier with other settings (", marker.string(),
                  " lists its commands); give this study another study.root or study.seed, or "
                  "remove ",
                  dir.string(), " to run it again");
      rec.status = "done";
      rec.wall_s = saved.value("wall_s", 0.0);
      std::printf("%s: done earlier (%s), skipped\n", tag.c_str(),
                  duration_text(rec.wall_s).c_str());
      continue;
    }
    fs::create_directories(dir);
    // How this machine compares with the expectation, from the stages run so far; two minutes
    // of "as expected" weigh in, so quick data stages do not swing it.
    const double pace = std::clamp((spent_run + 120) / (expected_run + 120), 0.25, 4.0);
    const double this_expect = settings.expect_s * pace, left = expected_left * pace;
    std::string eta;
    if (settings.expect_s > 0)
      eta = ", expected " + duration_text(this_expect) + "; study done in about " +
            duration_text(this_expect + left) + " (" + clock_in(this_expect + left) + ")";
    const std::string log = (dir / "log.txt").string();
    std::printf("%s: %s%s%s\n", tag.c_str(), st.summary.c_str(), eta.c_str(),
                o.verbose ? "" : (" [log " + log + "]").c_str());
    std::fflush(stdout);
    rec.status = "running";
    write_json_atomic(marker, {{"stage", st.name},
                               {"status", "running"},
                               {"started", now_iso()},
                               {"commands", commands_json(cmds)}});
    write_study_json(s, records);
    const auto t0 = jobs::Clock::now();
    std::string failure;
    for (const Args& c : cmds) {
      const int status = run_command(exe, c, o.verbose ? "" : log);
      if (status != 0 || g_signal) {
        failure = "xomni " + c[0] + (c.size() > 1 && c[0] == "data" ? " " + c[1] : "") +
                  " ended with " + status_text(status);
        break;
      }
    }
    rec.wall_s = jobs::seconds_since(t0);
    if (!failure.empty()) {
      rec.status = g_signal ? "interrupted" : "failed";
      write_json_atomic(marker, {{"stage", st.name},
                                 {"status", rec.status},
                                 {"wall_s", rec.wall_s},
                                 {"error", failure},
                                 {"commands", commands_json(cmds)}});
      write_study_json(s, records);
      if (g_signal) {
        std::printf("%s: interrupted by %s after %s; rerun the same command to resume\n",
                    tag.c_str(), strsignal(g_signal), duration_text(rec.wall_s).c_str());
        return 128 + g_signal;
      }
      std::fprintf(stderr, "%s: failed after %s: %s\n%s  the whole log: %s\n", tag.c_str(),
                   duration_text(rec.wall_s).c_str(), failure.c_str(),
                   o.verbose ? "" : tail(log, 20).c_str(), o.verbose ? "(above)" : log.c_str());
      return 1;
    }
    rec.status = "done";
    write_json_atomic(marker, {{"stage", st.name},
                               {"status", "done"},
                               {"finished", now_iso()},
                               {"wall_s", rec.wall_s},
                               {"commands", commands_json(cmds)}});
    write_study_json(s, records);
    spent_run += rec.wall_s;
    expected_run += settings.expect_s;
    std::printf("%s: done in %s\n", tag.c_str(), duration_text(rec.wall_s).c_str());
    std::fflush(stdout);
  }

  double total = 0;
  std::printf("[pipeline] study %s (scale %s, seed %lld) finished in %s:\n", s.name.c_str(),
              s.scale.c_str(), (long long)s.seed,
              duration_text(jobs::seconds_since(study_t0)).c_str());
  for (const auto& r : records) {
    std::printf("  %-10s %-8s %8s\n", r.name.c_str(), r.status.c_str(),
                duration_text(r.wall_s).c_str());
    total += r.wall_s;
  }
  std::printf("  %-10s %-8s %8s (all stages' own time)\n", "total", "",
              duration_text(total).c_str());
  const fs::path report = fs::path(s.root) / "report" / "report.html";
  if (s.stages.count("report") && fs::exists(report))
    std::printf("[pipeline] report: %s\n", report.string().c_str());
  return 0;
}

}  // namespace xomni::study
