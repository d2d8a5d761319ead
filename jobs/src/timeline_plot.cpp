// Cairo rendering of a pipeline timeline (see timeline_plot.h).
#include "timeline_plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "plot_png.h"

namespace xomni::cli {

namespace {

// Box colours as 8-bit RGB, so a pixel of the PNG has exactly these values.
constexpr unsigned kForward = 0x4682c8;   // blue
constexpr unsigned kBackward = 0xf09632;  // orange

}  // namespace

bool has_chunks(const std::vector<parallel::TimelineEvent>& events) {
  for (const auto& e : events)
    if (e.chunk != 0) return true;
  return false;
}

std::string box_label(const parallel::TimelineEvent& e, bool chunked) {
  // Appended piece by piece: GCC 12 warns falsely on chained string concatenation.
  std::string label = std::to_string(e.micro);
  if (chunked) label.append("/").append(std::to_string(e.chunk));
  return label;
}

double plot_timeline_png(const std::vector<parallel::TimelineEvent>& events,
                         const std::string& path, const TimelinePlot& options) {
  XOMNI_CHECK(!events.empty(), "timeline plot: no events to draw for ", path);
  std::map<int, int> row_of;  // rank -> row
  for (const auto& e : events) row_of[e.rank] = 0;
  int row = 0;
  for (auto& [rank, r] : row_of) r = row++;
  const int rows = int(row_of.size());
  const double bubble = parallel::bubble_fraction(events, rows);
  double t0 = std::numeric_limits<double>::infinity(), t1 = -t0;
  for (const auto& e : events) {
    t0 = std::min(t0, e.start);
    t1 = std::max(t1, e.end);
  }

  const double left = 90, right = 30, top = 60, axis = 50, legend = 30;
  const int w = std::max(options.width, 400);
  const int h = int(top + rows * options.row_height + axis + legend);
  const double plot_w = w - left - right;
  auto x_of = [&](double t) { return left + (t - t0) / (t1 - t0) * plot_w; };
  Canvas c(w, h, "timeline plot");
  cairo_t* cr = c.cr;

  char line[256];
  std::snprintf(line, sizeof line,
                "%s%d stages, %zu events, makespan %.3f ms, measured bubble %.1f%%",
                options.title.empty() ? "" : (options.title + ": ").c_str(), rows, events.size(),
                (t1 - t0) * 1e3, bubble * 100);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_at(cr, left, 30, line, 16, false);

  // Rows: idle background, then the boxes.
  const double box_h = options.row_height * 0.75;
  for (const auto& [rank, r] : row_of) {
    const double y = top + r * options.row_height;
    cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
    cairo_rectangle(cr, left, y, plot_w, box_h);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, 10, y + box_h / 2 + 5, "rank " + std::to_string(rank), 13, false);
  }
  const bool chunked = has_chunks(events);
  for (const auto& e : events) {
    const double y = top + row_of[e.rank] * options.row_height;
    const double x = x_of(e.start), bw = std::max(1.0, x_of(e.end) - x);
    set_colour(cr, e.phase == 'F' ? kForward : kBackward);
    cairo_rectangle(cr, x, y, bw, box_h);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    const std::string label = box_label(e, chunked);
    cairo_set_font_size(cr, 12);
    cairo_text_extents_t ext;
    cairo_text_extents(cr, label.c_str(), &ext);
    if (ext.width + 2 < bw) {  // a label only where it fits
      cairo_set_source_rgb(cr, 0, 0, 0);
      text_at(cr, x + bw / 2, y + box_h / 2, label, 12, true);
    }
  }

  // Time axis in milliseconds.
  const double ay = top + rows * options.row_height + 5;
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, left, ay);
  cairo_line_to(cr, left + plot_w, ay);
  cairo_stroke(cr);
  const double span_ms = (t1 - t0) * 1e3, step = tick_step(span_ms, 10);
  for (double t = 0; t <= span_ms + 1e-9; t += step) {
    const double x = left + t / span_ms * plot_w;
    cairo_move_to(cr, x, ay);
    cairo_line_to(cr, x, ay + 5);
    cairo_stroke(cr);
    std::snprintf(line, sizeof line, "%g", t);
    text_at(cr, x, ay + 15, line, 11, true);
  }
  text_at(cr, left + plot_w / 2, ay + 32, "time (ms)", 12, true);

  // Legend.
  const double ly = h - legend + 5;
  set_colour(cr, kForward);
  cairo_rectangle(cr, left, ly, 14, 14);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_at(cr, left + 20, ly + 12,
          chunked ? "forward (micro-batch/chunk)" : "forward (micro-batch number)", 12, false);
  set_colour(cr, kBackward);
  cairo_rectangle(cr, left + 260, ly, 14, 14);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_at(cr, left + 280, ly + 12, "backward", 12, false);

  c.write_png(path);
  return bubble;
}

}  // namespace xomni::cli
