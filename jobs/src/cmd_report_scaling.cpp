// xomni report scaling <run dirs...>: throughput, scaling efficiency and MFU of training runs
// against their device count, as a table (and optionally CSV and a PNG chart). A run directory
// holds metrics.jsonl (written by `xomni train`) and, when it ran through slurm/, launch.env
// (nodes, tasks, layout, device kind, threads per task and the site's peak FLOP/s per device).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>

#include "cli.h"
#include "cmd_report.h"
#include "cmd_report_scaling_prediction.h"
#include "plot_png.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {
namespace fs = std::filesystem;

// Spec-sheet peaks used when neither --peak-flops nor the run's launch.env names one.
// A GPU task: H100/H200 SXM dense BF16.
constexpr double kGpuPeakFlops = 989e12;
// One CPU core in FP32: 2 AVX-512 FMA pipes x 16 lanes x 2 FLOP x ~3.3 GHz, about 210e9 (the
// development box, docs PLATFORM); a CPU task's peak is this times its threads.
constexpr double kCpuCorePeakFlops = 210e9;
// A launch.env peak at or above this on a CPU run is the GPU default that older site files wrote
// for every run, not a CPU's.
constexpr double kGpuClassFlops = 1e14;

struct RunPoint {
  std::string dir;
  std::string layout;  // e.g. "tp=2 cp=1 pp=1": runs with the same layout form one curve
  std::string mode;    // strong / weak (from the sweep), informational
  int64_t nodes = 1;
  int64_t devices = 1;
  int64_t steps = 0;          // steps the medians are taken over
  double tokens_per_s = 0;    // median over the measured steps, whole job
  double flops_per_s = 0;     // median model FLOP/s, whole job
  double peak = 0;            // peak FLOP/s of one device; 0 when unknown (MFU not shown)
  std::string peak_from;      // where the peak came from, for the table's footnote
  double efficiency = 0;      // per-device throughput / that of the curve's smallest run
  double mfu_percent = NAN;   // 100 * flops_per_s / (peak * devices); NaN when the peak is unknown
  double peak_rss_mib = NAN;  // the largest peak_rss_mib of its steps (any rank); NaN: not logged
  std::optional<RunPrediction> predicted;  // the step model's, for the run's job and layout
  std::string no_prediction;               // why there is none
};

int64_t env_int(const std::map<std::string, std::string>& env, const std::string& key,
                int64_t fallback, const fs::path& file) {
  const auto it = env.find(key);
  if (it == env.end() || it->second.empty()) return fallback;
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  XOMNI_CHECK(used == it->second.size() && v > 0, file.string(), ": ", key, "='", it->second,
              "' is not a positive integer");
  return v;
}

// The peak FLOP/s of one device of this run: --peak-flops, else launch.env's, else by the device
// the run recorded (gpus_per_node > 0: a GPU; 0: a CPU task of `threads` cores). 0 when the run
// recorded nothing to go by (no launch.env): then there is no meaningful MFU.
void choose_peak(RunPoint& p, const std::map<std::string, std::string>& env, double override_,
                 const fs::path& launch) {
  if (override_ > 0) {
    p.peak = override_;
    p.peak_from = "--peak-flops";
    return;
  }
  const bool has_device = env.count("gpus_per_node") && !env.at("gpus_per_node").empty();
  const bool cpu = has_device && env.at("gpus_per_node") == "0";
  const int64_t threads = env_int(env, "threads", 1, launch);
  const auto it = env.find("peak_flops_per_device");
  if (it != env.end() && !it->second.empty()) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(it->second, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    XOMNI_CHECK(used == it->second.size() && std::isfinite(v) && v > 0, launch.string(),
                ": peak_flops_per_device='", it->second, "' is not a positive number");
    if (!(cpu && v >= kGpuClassFlops)) {
      p.peak = v;
      p.peak_from = "launch.env";
      return;
    }
    std::fprintf(stderr,
                 "report scaling: warning: %s: peak_flops_per_device=%s is a GPU's but the run "
                 "was on CPUs (gpus_per_node=0); using the CPU peak instead\n",
                 launch.c_str(), it->second.c_str());
  }
  if (!has_device) return;
  if (cpu) {
    p.peak = kCpuCorePeakFlops * double(threads);
    p.peak_from = "CPU default: " + std::to_string(threads) + " core(s) x 210 GFLOP/s FP32";
  } else {
    p.peak = kGpuPeakFlops;
    p.peak_from = "GPU default: 989 TFLOP/s (H100/H200 dense BF16)";
  }
}

// The device the step model runs the run on: the options, else what launch.env recorded.
PredictionDevice prediction_device(const PredictionDevice& given,
                                   const std::map<std::string, std::string>& env) {
  if (!given.name.empty() || !given.file.empty()) return given;
  const auto it = env.find("gpus_per_node");
  if (it == env.end() || it->second.empty()) return {};
  return {it->second == "0" ? "cpu" : "h100", ""};
}

// The run's full layout: tp, cp, pp from launch.env and dp the rest of its devices.
std::optional<parallel::Layout> run_layout(const std::map<std::string, std::string>& env,
                                           int64_t devices, const fs::path& launch) {
  parallel::Layout l;
  l.tp = int(env_int(env, "tp", 1, launch));
  l.cp = int(env_int(env, "cp", 1, launch));
  l.pp = int(env_int(env, "pp", 1, launch));
  const int64_t model = int64_t(l.tp) * l.cp * l.pp;
  if (devices % model != 0) return std::nullopt;
  l.dp = int(devices / model);
  return l;
}

RunPoint read_run(const std::string& dir, int64_t skip, double peak_override,
                  const PredictionDevice& device) {
  RunPoint p;
  p.dir = dir;
  const fs::path metrics = fs::path(dir) / "metrics.jsonl";
  std::ifstream in(metrics);
  XOMNI_CHECK(in, metrics.string(), " not found (is ", dir,
              " a training run directory, and did its job start?)");
  std::vector<double> tok, flops;
  std::string line;
  int64_t seen = 0;
  while (std::getline(in, line)) {
    const double t = json_number(line, "tokens_per_s");
    if (std::isnan(t)) continue;  // evaluation lines
    // The first steps of a run (and of each resume) pay for warm-up: page faults, allocation.
    if (seen++ < skip) continue;
    tok.push_back(t);
    flops.push_back(json_number(line, "flops_per_s"));
    const double rss = json_number(line, "peak_rss_mib");
    if (std::isfinite(rss))
      p.peak_rss_mib = std::isfinite(p.peak_rss_mib) ? std::max(p.peak_rss_mib, rss) : rss;
  }
  XOMNI_CHECK(!tok.empty(), metrics.string(), " has ", seen,
              " step lines, none left after skipping the first ", skip, " (--skip)");
  p.steps = int64_t(tok.size());
  p.tokens_per_s = median(tok);
  p.flops_per_s = median(flops);
  const fs::path launch = fs::path(dir) / "launch.env";
  const auto env = read_env(launch.string());
  p.nodes = env_int(env, "nodes", 1, launch);
  p.devices = env_int(env, "tasks", 1, launch);
  p.layout = "tp=" + std::to_string(env_int(env, "tp", 1, launch)) +
             " cp=" + std::to_string(env_int(env, "cp", 1, launch)) +
             " pp=" + std::to_string(env_int(env, "pp", 1, launch));
  if (env.count("scaling")) p.mode = env.at("scaling");
  choose_peak(p, env, peak_override, launch);
  if (p.peak > 0 && std::isfinite(p.flops_per_s))
    p.mfu_percent = 100 * p.flops_per_s / (p.peak * double(p.devices));
  const std::optional<parallel::Layout> layout = run_layout(env, p.devices, launch);
  if (layout)
    p.predicted = predict_run(dir, *layout, prediction_device(device, env), p.no_prediction);
  else
    p.no_prediction = "tp*cp*pp does not divide its " + std::to_string(p.devices) + " devices";
  return p;
}

// Efficiency within each layout's curve, against its run with the fewest devices: per-device
// throughput ratio. For strong scaling (fixed global batch) this is speedup / device ratio; for
// weak scaling (batch grows with the devices) it is throughput ratio / device ratio as well.
void fill_efficiency(std::vector<RunPoint>& runs) {
  std::map<std::string, const RunPoint*> base;
  for (const RunPoint& r : runs) {
    const RunPoint*& b = base[r.layout];
    if (!b || r.devices < b->devices) b = &r;
  }
  std::vector<double> eff;
  for (const RunPoint& r : runs) {
    const RunPoint& b = *base[r.layout];
    eff.push_back((r.tokens_per_s / double(r.devices)) / (b.tokens_per_s / double(b.devices)));
  }
  for (size_t i = 0; i < runs.size(); ++i) runs[i].efficiency = eff[i];
}

// MFU in percent with the digits that matter: 25.00, 0.53, 0.0031; "-" when unknown.
std::string percent(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, v == 0 || v >= 0.01 ? "%.2f" : "%.2g", v);
  return buf;
}

std::string peak_tflops(const RunPoint& r) {
  if (!(r.peak > 0)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", r.peak / 1e12);
  return buf;
}

std::string fixed1(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string signed_percent(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f", v);
  return buf;
}

// How far the model's throughput is from the measured one, in percent of the measured.
double prediction_error(const RunPoint& r) {
  return 100 * (r.predicted->tokens_per_s - r.tokens_per_s) / r.tokens_per_s;
}

// Which device the predictions used, and why a run has none (once per reason).
void print_prediction_notes(const std::vector<RunPoint>& runs, FILE* out) {
  std::vector<std::string> notes;
  for (const RunPoint& r : runs) {
    const std::string n =
        r.predicted ? "predicted by the step model (docs/SCALING.md) on " + r.predicted->device
                    : "no prediction for " + r.dir + ": " + r.no_prediction;
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }
  for (const std::string& n : notes) std::fprintf(out, "%s\n", n.c_str());
}

void print_table(const std::vector<RunPoint>& runs, FILE* out) {
  std::fprintf(out,
               "| nodes | devices | layout | mode | steps | tokens/s | model TFLOP/s | "
               "efficiency | peak TFLOP/s per device | MFU %% | predicted tokens/s | error %% | "
               "peak RSS MiB | predicted MiB | run |\n");
  std::fprintf(out, "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const RunPoint& r : runs)
    std::fprintf(out,
                 "| %lld | %lld | %s | %s | %lld | %.1f | %.4g | %.3f | %s | %s | %s | %s | %s | "
                 "%s | %s |\n",
                 static_cast<long long>(r.nodes), static_cast<long long>(r.devices),
                 r.layout.c_str(), r.mode.empty() ? "-" : r.mode.c_str(),
                 static_cast<long long>(r.steps), r.tokens_per_s, r.flops_per_s / 1e12,
                 r.efficiency, peak_tflops(r).c_str(), percent(r.mfu_percent).c_str(),
                 fixed1(r.predicted ? r.predicted->tokens_per_s : NAN).c_str(),
                 signed_percent(r.predicted ? prediction_error(r) : NAN).c_str(),
                 fixed1(r.peak_rss_mib).c_str(),
                 fixed1(r.predicted ? r.predicted->memory_mib : NAN).c_str(), r.dir.c_str());
  // Where each peak came from, once per source.
  std::vector<std::string> sources;
  for (const RunPoint& r : runs) {
    const std::string s =
        r.peak > 0 ? r.peak_from : "unknown (no launch.env): MFU not shown; give --peak-tflops";
    if (std::find(sources.begin(), sources.end(), s) == sources.end()) sources.push_back(s);
  }
  for (const std::string& s : sources) std::fprintf(out, "\npeak FLOP/s per device: %s", s.c_str());
  std::fprintf(out, "\n");
  print_prediction_notes(runs, out);
}

void write_csv(const std::vector<RunPoint>& runs, const std::string& path) {
  std::ofstream out(path);
  XOMNI_CHECK(out, "report scaling: cannot write ", path);
  out << "nodes,devices,layout,mode,steps,tokens_per_s,flops_per_s,peak_flops_per_device,"
         "efficiency,mfu_percent,run_dir,predicted_tokens_per_s,prediction_error_percent,"
         "peak_rss_mib,predicted_memory_mib,predicted_device\n";
  for (const RunPoint& r : runs) {
    out << r.nodes << ',' << r.devices << ',' << r.layout << ',' << r.mode << ',' << r.steps << ','
        << r.tokens_per_s << ',' << r.flops_per_s << ',';
    if (r.peak > 0) out << r.peak;
    out << ',' << r.efficiency << ',';
    if (std::isfinite(r.mfu_percent)) out << r.mfu_percent;
    out << ',' << r.dir << ',';
    if (r.predicted)
      out << r.predicted->tokens_per_s << ',' << prediction_error(r);
    else
      out << ',';
    out << ',';
    if (std::isfinite(r.peak_rss_mib)) out << r.peak_rss_mib;
    out << ',';
    if (r.predicted)
      out << r.predicted->memory_mib << ',' << r.predicted->device;
    else
      out << ',';
    out << '\n';
  }
  XOMNI_CHECK(out.flush(), "report scaling: cannot write ", path);
}

// One series per layout of `value` against devices, leaving out runs where it is NaN (and the
// layout when all are): dashed and labelled "(model)" for predictions.
void add_series(const std::map<std::string, std::vector<const RunPoint*>>& curves, LinePanel& panel,
                double (*value)(const RunPoint&), bool predicted) {
  for (const auto& [layout, pts] : curves) {
    std::vector<const RunPoint*> sorted = pts;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](auto* a, auto* b) { return a->devices < b->devices; });
    Series s;
    s.label = predicted ? layout + " (model)" : layout;
    s.dashed = predicted;
    for (const RunPoint* r : sorted) {
      if (!std::isfinite(value(*r))) continue;
      s.x.push_back(double(r->devices));
      s.y.push_back(value(*r));
    }
    if (!s.x.empty()) panel.series.push_back(std::move(s));
  }
}

// Throughput, efficiency and MFU (%) against devices, one curve per layout. Devices, not nodes: a
// one-node sweep over task counts is still a curve.
void write_png(const std::vector<RunPoint>& runs, const std::string& path) {
  std::map<std::string, std::vector<const RunPoint*>> curves;
  int64_t dmin = runs[0].devices, dmax = runs[0].devices;
  bool any_mfu = false;
  for (const RunPoint& r : runs) {
    curves[r.layout].push_back(&r);
    dmin = std::min(dmin, r.devices), dmax = std::max(dmax, r.devices);
    any_mfu = any_mfu || std::isfinite(r.mfu_percent);
  }
  using Value = double (*)(const RunPoint&);
  struct Spec {
    const char* title;
    Value value;
  };
  std::vector<Spec> specs = {
      {"throughput (tokens/s)", [](const RunPoint& r) { return r.tokens_per_s; }},
      {"scaling efficiency", [](const RunPoint& r) { return r.efficiency; }}};
  if (any_mfu) specs.push_back({"MFU (%)", [](const RunPoint& r) { return r.mfu_percent; }});
  std::vector<LinePanel> panels;
  for (const Spec& spec : specs) {
    LinePanel panel;
    panel.title = spec.title;
    panel.x_label = "devices (tasks)";
    panel.log_x = dmax >= 4 * dmin;
    panel.y_from_zero = true;
    add_series(curves, panel, spec.value, false);
    panels.push_back(std::move(panel));
  }
  add_series(
      curves, panels[0],
      [](const RunPoint& r) { return r.predicted ? r.predicted->tokens_per_s : NAN; }, true);
  LinePanel memory;
  memory.title = "peak memory per rank (MiB)";
  memory.x_label = panels[0].x_label;
  memory.log_x = panels[0].log_x;
  memory.y_from_zero = true;
  add_series(
      curves, memory, [](const RunPoint& r) { return r.peak_rss_mib; }, false);
  add_series(
      curves, memory, [](const RunPoint& r) { return r.predicted ? r.predicted->memory_mib : NAN; },
      true);
  if (!memory.series.empty()) panels.push_back(std::move(memory));
  write_line_panels_png(panels, path, "report scaling");
}

}  // namespace

const char* const kScalingUsage =
    "usage: xomni report scaling RUN_DIR... [--peak-flops F | --peak-tflops T] [--skip N]\n"
    "           [--csv FILE] [--png FILE] [--device h100|h200|cpu | --device-file FILE]\n\n"
    "For each run directory: the median tokens/s and model FLOP/s of its steps (from\n"
    "metrics.jsonl; the first N step lines, default 2, are warm-up and skipped), the node and\n"
    "device (task) count and layout from launch.env (written by slurm/ stage scripts; absent:\n"
    "1 node, 1 device). A run that cannot be read (a failed array element) is skipped with a\n"
    "warning naming it. Efficiency: per-device throughput over that of the run with the fewest\n"
    "devices of the same layout. MFU (in percent): model FLOP/s / (peak FLOP/s per device x\n"
    "devices); the peak is --peak-flops (or --peak-tflops), else launch.env's\n"
    "peak_flops_per_device (XOMNI_PEAK_FLOPS in the site file), else by the device the run\n"
    "recorded: a GPU 989e12 (H100/H200 SXM dense BF16), a CPU task 210e9 FP32 per thread; a run\n"
    "without launch.env has no MFU unless a peak is given. Prints a Markdown table; --csv and\n"
    "--png also write a CSV file and a chart of the three against the device count.\n\n"
    "Each run with a config.toml (written by `xomni train`) is also predicted by the step model\n"
    "of `xomni plan` on its own layout and device count: predicted tokens/s, its error in\n"
    "percent of the measured, and predicted peak memory per rank beside the measured peak RSS\n"
    "(peak_rss_mib in metrics.jsonl). The device is --device h100|h200|cpu or --device-file\n"
    "FILE (from `xomni plan --calibrate`), else launch.env's: gpus_per_node=0 a CPU, otherwise\n"
    "an H100. The chart draws the predictions dashed and adds a memory panel.";

int scaling(std::vector<std::string> args) {
  const std::string flops_text = take_option(args, "--peak-flops");
  const std::string tflops_text = take_option(args, "--peak-tflops");
  XOMNI_CHECK(flops_text.empty() || tflops_text.empty(),
              "report scaling: give --peak-flops or --peak-tflops, not both");
  const double peak = tflops_text.empty() ? parse_number(flops_text, "--peak-flops", 0)
                                          : 1e12 * parse_number(tflops_text, "--peak-tflops", 0);
  XOMNI_CHECK((flops_text.empty() && tflops_text.empty()) || (std::isfinite(peak) && peak > 0),
              "report scaling: --peak-flops/--peak-tflops must be a positive number");
  const double skip_value = parse_number(take_option(args, "--skip"), "--skip", 2);
  XOMNI_CHECK(skip_value >= 0 && skip_value == std::floor(skip_value),
              "report scaling: --skip must be a whole number of steps >= 0");
  const auto skip = int64_t(skip_value);
  const std::string png = take_option(args, "--png");
  const std::string csv = take_option(args, "--csv");
  PredictionDevice device;
  device.name = take_option(args, "--device");
  device.file = take_option(args, "--device-file");
  XOMNI_CHECK(device.name.empty() || device.file.empty(),
              "report scaling: give --device or --device-file, not both");
  check_prediction_device(device);
  XOMNI_CHECK(!args.empty(), "report scaling: give one or more run directories");
  std::vector<RunPoint> runs;
  std::vector<std::string> skipped;
  for (const std::string& dir : args) {
    XOMNI_CHECK(dir.empty() || dir[0] != '-', "report scaling: unknown option '", dir, "'");
    try {
      runs.push_back(read_run(dir, skip, peak, device));
    } catch (const std::exception& e) {
      // A failed element of a sweep must not hide the others.
      std::fprintf(stderr, "report scaling: warning: skipping %s: %s\n", dir.c_str(), e.what());
      skipped.push_back(dir);
    }
  }
  XOMNI_CHECK(!runs.empty(), "report scaling: none of the ", args.size(),
              " run directories could be read (see the warnings above)");
  std::stable_sort(runs.begin(), runs.end(), [](const RunPoint& a, const RunPoint& b) {
    return a.layout != b.layout ? a.layout < b.layout : a.devices < b.devices;
  });
  fill_efficiency(runs);
  print_table(runs, stdout);
  if (!skipped.empty()) {
    std::printf("\nskipped %zu run(s) that could not be read:", skipped.size());
    for (const std::string& d : skipped) std::printf(" %s", d.c_str());
    std::printf("\n");
  }
  if (!csv.empty()) write_csv(runs, csv);
  if (!png.empty()) write_png(runs, png);
  return 0;
}

}  // namespace xomni::cli::report
