// xomni report scaling <run dirs...>: throughput, scaling efficiency and MFU of training runs
// against node count, as a table (and optionally CSV and a PNG plot). A run directory holds
// metrics.jsonl (written by `xomni train`) and, when it ran through slurm/, launch.env (nodes,
// tasks, layout and the peak FLOP/s per device from the site file).
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {
namespace fs = std::filesystem;

// H100/H200 SXM dense BF16 peak (vendor spec sheet), used when neither --peak-flops nor the run's
// launch.env names one.
constexpr double kDefaultPeakFlops = 989e12;

struct RunPoint {
  std::string dir;
  std::string layout;  // e.g. "tp=2 cp=1 pp=1": runs with the same layout form one curve
  std::string mode;    // strong / weak (from the sweep), informational
  int64_t nodes = 1;
  int64_t devices = 1;
  int64_t steps = 0;        // steps the medians are taken over
  double tokens_per_s = 0;  // median over the measured steps, whole job
  double flops_per_s = 0;   // median model FLOP/s, whole job
  double peak = 0;          // peak FLOP/s of one device
  double efficiency = 0;    // per-device throughput / that of the curve's smallest run
  double mfu = 0;           // flops_per_s / (peak * devices)
};

std::map<std::string, std::string> read_env(const fs::path& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// The number after `"key": ` in a metrics line; NaN when the key is absent.
double json_number(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(line.c_str() + at + needle.size(), nullptr);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int64_t to_int(const std::map<std::string, std::string>& env, const std::string& key,
               int64_t fallback) {
  const auto it = env.find(key);
  return it == env.end() || it->second.empty() ? fallback : std::stoll(it->second);
}

RunPoint read_run(const std::string& dir, int64_t skip, double peak_override) {
  RunPoint p;
  p.dir = dir;
  const fs::path metrics = fs::path(dir) / "metrics.jsonl";
  std::ifstream in(metrics);
  XOMNI_CHECK(in, "report scaling: ", metrics.string(), " not found (is ", dir,
              " a training run directory?)");
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
  }
  XOMNI_CHECK(!tok.empty(), "report scaling: ", metrics.string(), " has ", seen,
              " step lines, none left after skipping the first ", skip, " (--skip)");
  p.steps = int64_t(tok.size());
  p.tokens_per_s = median(tok);
  p.flops_per_s = median(flops);
  const auto env = read_env(fs::path(dir) / "launch.env");
  p.nodes = to_int(env, "nodes", 1);
  p.devices = to_int(env, "tasks", 1);
  p.layout = "tp=" + std::to_string(to_int(env, "tp", 1)) +
             " cp=" + std::to_string(to_int(env, "cp", 1)) +
             " pp=" + std::to_string(to_int(env, "pp", 1));
  if (env.count("mode")) p.mode = env.at("mode");
  if (env.count("scaling")) p.mode = env.at("scaling");
  p.peak = peak_override > 0 ? peak_override
           : env.count("peak_flops_per_device") && !env.at("peak_flops_per_device").empty()
               ? std::stod(env.at("peak_flops_per_device"))
               : kDefaultPeakFlops;
  XOMNI_CHECK(p.devices > 0 && p.nodes > 0 && p.peak > 0, "report scaling: ", dir,
              "/launch.env: nodes, tasks and peak_flops_per_device must be positive");
  p.mfu = p.flops_per_s / (p.peak * double(p.devices));
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

void print_table(const std::vector<RunPoint>& runs, FILE* out) {
  std::fprintf(out,
               "| nodes | devices | layout | mode | steps | tokens/s | model TFLOP/s | "
               "efficiency | MFU | run |\n");
  std::fprintf(out, "|---:|---:|---|---|---:|---:|---:|---:|---:|---|\n");
  for (const RunPoint& r : runs)
    std::fprintf(out, "| %lld | %lld | %s | %s | %lld | %.1f | %.4g | %.3f | %.4f | %s |\n",
                 static_cast<long long>(r.nodes), static_cast<long long>(r.devices),
                 r.layout.c_str(), r.mode.empty() ? "-" : r.mode.c_str(),
                 static_cast<long long>(r.steps), r.tokens_per_s, r.flops_per_s / 1e12,
                 r.efficiency, r.mfu, r.dir.c_str());
}

void write_csv(const std::vector<RunPoint>& runs, const std::string& path) {
  std::ofstream out(path);
  XOMNI_CHECK(out, "report scaling: cannot write ", path);
  out << "nodes,devices,layout,mode,steps,tokens_per_s,flops_per_s,peak_flops_per_device,"
         "efficiency,mfu,run_dir\n";
  for (const RunPoint& r : runs)
    out << r.nodes << ',' << r.devices << ',' << r.layout << ',' << r.mode << ',' << r.steps << ','
        << r.tokens_per_s << ',' << r.flops_per_s << ',' << r.peak << ',' << r.efficiency << ','
        << r.mfu << ',' << r.dir << '\n';
}

// --- PNG plot: three panels (throughput, efficiency, MFU) against node count ---------------------

struct Panel {
  double x0, y0, w, h;  // plot area in pixels
  double xmin, xmax, ymin, ymax;
  bool log_x;
  double px(double x) const {
    const double t = log_x ? (std::log2(x) - std::log2(xmin)) / (std::log2(xmax) - std::log2(xmin))
                           : (x - xmin) / (xmax - xmin);
    return x0 + w * (std::isfinite(t) ? t : 0.5);
  }
  double py(double y) const { return y0 + h - h * (y - ymin) / (ymax - ymin); }
};

void text(cairo_t* cr, double x, double y, const std::string& s, double align) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - align * e.width, y);
  cairo_show_text(cr, s.c_str());
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void draw_panel(cairo_t* cr, const Panel& p, const std::string& title,
                const std::map<std::string, std::vector<const RunPoint*>>& curves,
                double (*value)(const RunPoint&), const std::vector<double>& xs) {
  static const double colors[][3] = {{0.12, 0.47, 0.71}, {0.85, 0.37, 0.01}, {0.17, 0.63, 0.17},
                                     {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}};
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, p.x0, p.y0, p.w, p.h);
  cairo_stroke(cr);
  cairo_set_font_size(cr, 15);
  text(cr, p.x0 + p.w / 2, p.y0 - 12, title, 0.5);
  cairo_set_font_size(cr, 11);
  for (double x : xs) text(cr, p.px(x), p.y0 + p.h + 16, fmt(x), 0.5);
  text(cr, p.x0 + p.w / 2, p.y0 + p.h + 34, "nodes", 0.5);
  for (int i = 0; i <= 4; ++i) {
    const double y = p.ymin + (p.ymax - p.ymin) * i / 4.0;
    text(cr, p.x0 - 6, p.py(y) + 4, fmt(y), 1.0);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, p.x0, p.py(y));
    cairo_line_to(cr, p.x0 + p.w, p.py(y));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
  }
  size_t c = 0;
  for (const auto& [layout, pts] : curves) {
    const double* rgb = colors[c++ % 6];
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, 2);
    for (size_t i = 0; i < pts.size(); ++i) {
      const double x = p.px(double(pts[i]->nodes)), y = p.py(value(*pts[i]));
      i == 0 ? cairo_move_to(cr, x, y) : cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
    for (const RunPoint* r : pts) {
      cairo_arc(cr, p.px(double(r->nodes)), p.py(value(*r)), 4, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
}

void write_png(const std::vector<RunPoint>& runs, const std::string& path) {
  std::map<std::string, std::vector<const RunPoint*>> curves;
  std::vector<double> xs;
  for (const RunPoint& r : runs) {
    curves[r.layout].push_back(&r);
    if (std::find(xs.begin(), xs.end(), double(r.nodes)) == xs.end()) xs.push_back(double(r.nodes));
  }
  for (auto& [layout, pts] : curves)
    std::sort(pts.begin(), pts.end(), [](auto* a, auto* b) { return a->nodes < b->nodes; });
  const double xmin = *std::min_element(xs.begin(), xs.end());
  const double xmax = *std::max_element(xs.begin(), xs.end());
  const bool log_x = xmax / xmin >= 4;
  const double lo = xmin == xmax ? xmin - 1 : xmin, hi = xmin == xmax ? xmax + 1 : xmax;
  auto span = [&](double (*value)(const RunPoint&), bool from_zero) {
    double a = from_zero ? 0 : 1e300, b = -1e300;
    for (const RunPoint& r : runs) a = std::min(a, value(r)), b = std::max(b, value(r));
    if (b <= a) b = a + 1;
    return std::pair{a, b + 0.08 * (b - a)};
  };
  const int W = 1500, H = 470;
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  using V = double (*)(const RunPoint&);
  const V tput = [](const RunPoint& r) { return r.tokens_per_s; };
  const V eff = [](const RunPoint& r) { return r.efficiency; };
  const V mfu = [](const RunPoint& r) { return 100 * r.mfu; };
  const struct {
    const char* title;
    V value;
  } panels[] = {{"throughput (tokens/s)", tput}, {"scaling efficiency", eff}, {"MFU (%)", mfu}};
  for (int i = 0; i < 3; ++i) {
    const auto [ymin, ymax] = span(panels[i].value, true);
    const Panel p{80.0 + i * 480.0, 50, 380, 320, lo, hi, ymin, ymax, log_x && xmin != xmax};
    draw_panel(cr, p, panels[i].title, curves, panels[i].value, xs);
  }
  // Legend: one colour per layout.
  cairo_set_font_size(cr, 12);
  static const double colors[][3] = {{0.12, 0.47, 0.71}, {0.85, 0.37, 0.01}, {0.17, 0.63, 0.17},
                                     {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}};
  double lx = 80;
  size_t c = 0;
  for (const auto& [layout, pts] : curves) {
    const double* rgb = colors[c++ % 6];
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, lx, H - 32, 14, 14);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, lx + 20, H - 20, layout, 0);
    lx += 200;
  }
  cairo_destroy(cr);
  const cairo_status_t st = cairo_surface_write_to_png(surface, path.c_str());
  cairo_surface_destroy(surface);
  XOMNI_CHECK(st == CAIRO_STATUS_SUCCESS, "report scaling: cannot write ", path, ": ",
              cairo_status_to_string(st));
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  XOMNI_CHECK(!args.empty() && args[0] == "scaling",
              "report: expected 'xomni report scaling RUN_DIR...' (see --help)");
  args.erase(args.begin());
  const double peak = parse_number(take_option(args, "--peak-flops"), "--peak-flops", 0);
  const auto skip = int64_t(parse_number(take_option(args, "--skip"), "--skip", 2));
  const std::string png = take_option(args, "--png");
  const std::string csv = take_option(args, "--csv");
  XOMNI_CHECK(!args.empty(), "report scaling: give one or more run directories");
  std::vector<RunPoint> runs;
  for (const std::string& dir : args) {
    XOMNI_CHECK(dir.empty() || dir[0] != '-', "report scaling: unknown option '", dir, "'");
    runs.push_back(read_run(dir, skip, peak));
  }
  std::stable_sort(runs.begin(), runs.end(), [](const RunPoint& a, const RunPoint& b) {
    return a.layout != b.layout ? a.layout < b.layout : a.devices < b.devices;
  });
  fill_efficiency(runs);
  print_table(runs, stdout);
  if (!csv.empty()) write_csv(runs, csv);
  if (!png.empty()) write_png(runs, png);
  return 0;
}

const Register reg(
    {"report", "summarise runs: `report scaling` tabulates and plots throughput, efficiency, MFU",
     "usage: xomni report scaling RUN_DIR... [--peak-flops F] [--skip N] [--csv FILE] "
     "[--png FILE]\n\n"
     "For each run directory: the median tokens/s and model FLOP/s of its steps (from\n"
     "metrics.jsonl; the first N step lines, default 2, are warm-up and skipped), the node and\n"
     "device (task) count and layout from launch.env (written by slurm/ stage scripts; absent:\n"
     "1 node, 1 device). Efficiency: per-device throughput over that of the run with the fewest\n"
     "devices of the same layout. MFU: model FLOP/s / (peak FLOP/s per device x devices); the\n"
     "peak is --peak-flops, else launch.env's peak_flops_per_device (XOMNI_PEAK_FLOPS in the\n"
     "site file), else 989e12 (H100/H200 SXM dense BF16). Prints a Markdown table; --csv and\n"
     "--png also write a CSV file and a plot of the three against node count.",
     run});

}  // namespace
}  // namespace xomni::cli
