// xomni report run RUN_DIR: one training run's curves from its metrics.jsonl: a table (one row
// per N steps, then the final values) on stdout and in OUT/summary.md, and PNG charts of the
// training and evaluation loss, learning rate, gradient norm and throughput in OUT.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli.h"
#include "cmd_report.h"
#include "plot_png.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {
namespace fs = std::filesystem;

struct StepRow {
  double loss = NAN, lr = NAN, grad_norm = NAN, tokens_per_s = NAN;
};

struct RunMetrics {
  std::map<int64_t, StepRow> steps;  // by step; a later line for a step replaces an earlier one
  std::map<int64_t, double> eval;    // eval_loss by step
  int64_t unreadable = 0;            // lines without a step number (e.g. cut short by a crash)
};

RunMetrics read_metrics(const fs::path& file) {
  std::ifstream in(file);
  XOMNI_CHECK(in, "report run: ", file.string(), " not found (is ", file.parent_path().string(),
              " a training run directory?)");
  RunMetrics m;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const double step = json_number(line, "step");
    if (!std::isfinite(step) || step < 0 || step != std::floor(step)) {
      ++m.unreadable;
      continue;
    }
    const double eval = json_number(line, "eval_loss");
    if (std::isfinite(eval)) m.eval[int64_t(step)] = eval;
    const double loss = json_number(line, "loss");
    if (std::isnan(loss)) continue;
    m.steps[int64_t(step)] = {loss, json_number(line, "lr"), json_number(line, "grad_norm"),
                              json_number(line, "tokens_per_s")};
  }
  XOMNI_CHECK(!m.steps.empty(), "report run: ", file.string(), " has no step lines (\"step\" and ",
              "\"loss\"); has the run taken a step yet?");
  return m;
}

std::string num(const char* format, double v) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  return n ? sum / double(n) : NAN;
}

double median_of(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  return v.empty() ? NAN : median(v);
}

// The table: one row per window of `every` steps ((k-1)*every, k*every], then the final values.
std::string summary_table(const RunMetrics& m, int64_t every, int64_t skip) {
  std::ostringstream out;
  out << "| steps | loss (mean) | loss (last) | eval loss (last) | lr (last) | grad norm (mean) | "
         "tokens/s (median) |\n|---|---:|---:|---:|---:|---:|---:|\n";
  auto it = m.steps.begin();
  while (it != m.steps.end()) {
    const int64_t window_end = ((it->first + every - 1) / every) * every;
    const int64_t first = it->first;
    std::vector<double> loss, gnorm, tput;
    const StepRow* last = nullptr;
    int64_t last_step = first;
    for (; it != m.steps.end() && it->first <= window_end; ++it) {
      loss.push_back(it->second.loss);
      gnorm.push_back(it->second.grad_norm);
      tput.push_back(it->second.tokens_per_s);
      last = &it->second;
      last_step = it->first;
    }
    double eval = NAN;
    for (auto e = m.eval.lower_bound(first); e != m.eval.end() && e->first <= last_step; ++e)
      eval = e->second;
    out << "| " << first << "-" << last_step << " | " << num("%.4f", mean_of(loss)) << " | "
        << num("%.4f", last->loss) << " | " << num("%.4f", eval) << " | " << num("%.3g", last->lr)
        << " | " << num("%.4g", mean_of(gnorm)) << " | " << num("%.1f", median_of(tput)) << " |\n";
  }
  const auto& [final_step, f] = *m.steps.rbegin();
  std::vector<double> tput;
  int64_t seen = 0;
  for (const auto& [step, row] : m.steps)
    if (seen++ >= skip) tput.push_back(row.tokens_per_s);
  out << "\nfinal (step " << final_step << "): loss " << num("%.4f", f.loss);
  if (!m.eval.empty())
    out << ", eval loss " << num("%.4f", m.eval.rbegin()->second) << " (step "
        << m.eval.rbegin()->first << ")";
  out << ", lr " << num("%.3g", f.lr) << ", grad norm " << num("%.4g", f.grad_norm) << ", tokens/s "
      << num("%.1f", median_of(tput)) << " (median over " << tput.size()
      << " steps after the first " << std::min<int64_t>(skip, seen) << ")\n";
  return out.str();
}

void write_charts(const RunMetrics& m, const fs::path& out) {
  Series loss{"training loss", {}, {}, false, true}, lr{"learning rate", {}, {}, false, true},
      gnorm{"gradient norm", {}, {}, false, true}, tput{"tokens/s", {}, {}, false, true};
  for (const auto& [step, row] : m.steps) {
    for (Series* s : {&loss, &lr, &gnorm, &tput}) s->x.push_back(double(step));
    loss.y.push_back(row.loss);
    lr.y.push_back(row.lr);
    gnorm.y.push_back(row.grad_norm);
    tput.y.push_back(row.tokens_per_s);
  }
  Series eval{"eval loss", {}, {}, true, true};
  for (const auto& [step, v] : m.eval) eval.x.push_back(double(step)), eval.y.push_back(v);
  auto chart = [&](const char* file, const char* title, std::vector<Series> series, bool zero) {
    LinePanel p;
    p.title = title;
    p.x_label = "step";
    p.series = std::move(series);
    p.y_from_zero = zero;
    write_line_panels_png({p}, (out / file).string(), "report run", 1, 720, 420);
  };
  std::vector<Series> losses = {loss};
  if (!eval.x.empty()) losses.push_back(eval);
  chart("loss.png", "loss", losses, false);
  chart("lr.png", "learning rate", {lr}, true);
  chart("grad_norm.png", "gradient norm", {gnorm}, true);
  chart("throughput.png", "throughput (tokens/s)", {tput}, true);
}

}  // namespace

const char* const kRunUsage =
    "usage: xomni report run RUN_DIR [--out DIR] [--every N] [--skip N]\n\n"
    "One training run from RUN_DIR/metrics.jsonl: prints a table with one row per N steps\n"
    "(default: about ten rows) of the mean and last training loss, the last eval loss, the\n"
    "learning rate, the mean gradient norm and the median tokens/s, then the final values\n"
    "(tokens/s: median over the steps after the first --skip, default 2, which pay for\n"
    "warm-up). Writes the table to DIR/summary.md and charts loss.png (training and eval loss),\n"
    "lr.png, grad_norm.png and throughput.png to DIR (default RUN_DIR/report).";

int run(std::vector<std::string> args) {
  std::string out = take_option(args, "--out");
  const double every_value = parse_number(take_option(args, "--every"), "--every", 0);
  const double skip_value = parse_number(take_option(args, "--skip"), "--skip", 2);
  XOMNI_CHECK(every_value >= 0 && every_value == std::floor(every_value),
              "report run: --every must be a whole number of steps >= 1");
  XOMNI_CHECK(skip_value >= 0 && skip_value == std::floor(skip_value),
              "report run: --skip must be a whole number of steps >= 0");
  XOMNI_CHECK(args.size() == 1, "report run: give exactly one run directory, got ", args.size(),
              " arguments");
  XOMNI_CHECK(args[0].empty() || args[0][0] != '-', "report run: unknown option '", args[0], "'");
  const fs::path dir = args[0];
  const RunMetrics m = read_metrics(dir / "metrics.jsonl");
  if (m.unreadable > 0)
    std::fprintf(stderr, "report run: warning: %s: %lld line(s) without a step number ignored\n",
                 (dir / "metrics.jsonl").c_str(), static_cast<long long>(m.unreadable));
  int64_t every = int64_t(every_value);
  if (every == 0) every = std::max<int64_t>(1, (m.steps.rbegin()->first + 9) / 10);
  const std::string table = summary_table(m, every, int64_t(skip_value));
  std::fputs(table.c_str(), stdout);
  if (out.empty()) out = (dir / "report").string();
  std::error_code ec;
  fs::create_directories(out, ec);
  XOMNI_CHECK(!ec && fs::is_directory(out), "report run: cannot make the folder ", out, ": ",
              ec ? ec.message() : "a file is in the way");
  {
    std::ofstream f(fs::path(out) / "summary.md");
    f << table;
    XOMNI_CHECK(f.flush(), "report run: cannot write ", (fs::path(out) / "summary.md").string());
  }
  write_charts(m, out);
  std::printf("\nwrote %s/{summary.md,loss.png,lr.png,grad_norm.png,throughput.png}\n",
              out.c_str());
  return 0;
}

}  // namespace xomni::cli::report
