// Cairo helpers and line charts (see plot_png.h).
#include "plot_png.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "xomni/core/tensor/error.h"

namespace xomni::cli {

Canvas::Canvas(int width, int height, std::string what_)
    : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height)),
      cr(cairo_create(surface)),
      what(std::move(what_)) {
  XOMNI_CHECK(cairo_status(cr) == CAIRO_STATUS_SUCCESS, what, ": cannot make a ", width, " x ",
              height, " image: ", cairo_status_to_string(cairo_status(cr)));
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

Canvas::~Canvas() {
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
}

void Canvas::write_png(const std::string& path) const {
  cairo_surface_flush(surface);
  const cairo_status_t st = cairo_surface_write_to_png(surface, path.c_str());
  XOMNI_CHECK(st == CAIRO_STATUS_SUCCESS, what, ": cannot write ", path, ": ",
              cairo_status_to_string(st));
}

void text_at(cairo_t* cr, double x, double y, const std::string& s, double size, bool centre) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_move_to(cr, centre ? x - ext.width / 2 - ext.x_bearing : x,
                centre ? y - ext.height / 2 - ext.y_bearing : y);
  cairo_show_text(cr, s.c_str());
}

void text_aligned(cairo_t* cr, double x, double y, const std::string& s, double size,
                  double align) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_move_to(cr, x - align * ext.x_advance, y);
  cairo_show_text(cr, s.c_str());
}

void set_colour(cairo_t* cr, unsigned rgb) {
  cairo_set_source_rgb(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0,
                       (rgb & 255) / 255.0);
}

unsigned palette_colour(size_t i) {
  static const unsigned colours[] = {0x1f77b4, 0xd95f02, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b};
  return colours[i % 6];
}

double tick_step(double span, int want) {
  const double raw = span / want, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (raw <= f * mag) return f * mag;
  return 10 * mag;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

namespace {

// The data's range over every series (finite values only); a degenerate range is widened.
struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  void settle(bool from_zero, double pad) {
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (from_zero) lo = std::min(lo, 0.0);
    if (hi <= lo) {
      const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
      lo -= d, hi += d;
    }
    hi += pad * (hi - lo);
  }
};

// A series' lo..hi range in its colour (already set): whiskers with caps for a short curve, a pale
// band (the colour at 20%) for a long one, where whiskers would hide each other.
template <class Px, class Py>
void draw_range(cairo_t* cr, const Series& s, size_t n, const Px& px, const Py& py) {
  auto ok = [&](size_t i) {
    return std::isfinite(s.lo[i]) && std::isfinite(s.hi[i]) && std::isfinite(s.y[i]);
  };
  if (n <= 16) {
    cairo_set_line_width(cr, 1.5);
    for (size_t i = 0; i < n; ++i) {
      if (!ok(i)) continue;
      const double x = px(s.x[i]);
      cairo_move_to(cr, x, py(s.lo[i]));
      cairo_line_to(cr, x, py(s.hi[i]));
      for (double y : {s.lo[i], s.hi[i]}) {
        cairo_move_to(cr, x - 5, py(y));
        cairo_line_to(cr, x + 5, py(y));
      }
    }
    cairo_stroke(cr);
    return;
  }
  cairo_pattern_t* own = cairo_get_source(cr);
  double r, g, b, a;
  cairo_pattern_get_rgba(own, &r, &g, &b, &a);
  cairo_set_source_rgba(cr, r, g, b, 0.2);
  size_t i = 0;
  while (i < n) {  // one closed band per run of points with a range
    if (!ok(i)) {
      ++i;
      continue;
    }
    const size_t first = i;
    while (i < n && ok(i)) ++i;
    cairo_move_to(cr, px(s.x[first]), py(s.hi[first]));
    for (size_t j = first + 1; j < i; ++j) cairo_line_to(cr, px(s.x[j]), py(s.hi[j]));
    for (size_t j = i; j-- > first;) cairo_line_to(cr, px(s.x[j]), py(s.lo[j]));
    cairo_close_path(cr);
    cairo_fill(cr);
  }
}

}  // namespace

void draw_y_grid(cairo_t* cr, double x0, double w, double lo, double hi,
                 const std::function<double(double)>& py) {
  const double step = tick_step(hi - lo, 5);
  for (double y = std::ceil(lo / step) * step; y <= hi + 1e-9 * step; y += step) {
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, x0, py(y));
    cairo_line_to(cr, x0 + w, py(y));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_aligned(cr, x0 - 6, py(y) + 4, tick_label(y), 11, 1.0);
  }
}

void draw_line_panel(cairo_t* cr, const LinePanel& p, double x0, double y0, double w, double h) {
  Range xr, yr;
  std::vector<double> xs;  // distinct x values, the log axis's ticks
  for (const Series& s : p.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      yr.add(s.y[i]);
      if (i < s.lo.size() && i < s.hi.size()) yr.add(s.lo[i]), yr.add(s.hi[i]);
      if (std::find(xs.begin(), xs.end(), s.x[i]) == xs.end()) xs.push_back(s.x[i]);
    }
  }
  const bool log_x = p.log_x && xr.lo > 0 && xr.hi > xr.lo;
  if (log_x) {
    xr.lo /= 1.15, xr.hi *= 1.15;  // room for the end dots
  } else {
    xr.settle(false, 0);
  }
  yr.settle(p.y_from_zero, 0.08);
  auto px = [&](double x) {
    const double t =
        log_x ? std::log2(x / xr.lo) / std::log2(xr.hi / xr.lo) : (x - xr.lo) / (xr.hi - xr.lo);
    return x0 + w * t;
  };
  auto py = [&](double y) { return y0 + h - h * (y - yr.lo) / (yr.hi - yr.lo); };

  // Frame, title, horizontal grid with y labels, x ticks with labels.
  cairo_set_line_width(cr, 1);
  draw_y_grid(cr, x0, w, yr.lo, yr.hi, py);
  std::vector<double> xticks;
  if (log_x && xs.size() <= 12) {
    xticks = xs;
  } else if (log_x) {
    for (double x = std::exp2(std::ceil(std::log2(xr.lo))); x <= xr.hi; x *= 2) xticks.push_back(x);
  } else {
    const double xstep = tick_step(xr.hi - xr.lo, 6);
    for (double x = std::ceil(xr.lo / xstep) * xstep; x <= xr.hi + 1e-9 * xstep; x += xstep)
      xticks.push_back(x);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  for (double x : xticks) {
    cairo_move_to(cr, px(x), y0 + h);
    cairo_line_to(cr, px(x), y0 + h + 4);
    cairo_stroke(cr);
    text_aligned(cr, px(x), y0 + h + 17, tick_label(x), 11, 0.5);
  }
  cairo_rectangle(cr, x0, y0, w, h);
  cairo_stroke(cr);
  text_aligned(cr, x0 + w / 2, y0 - 12, p.title, 15, 0.5);
  text_aligned(cr, x0 + w / 2, y0 + h + 36, p.x_label, 12, 0.5);

  // The curves, clipped to the plot area.
  cairo_save(cr);
  cairo_rectangle(cr, x0, y0, w, h);
  cairo_clip(cr);
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    set_colour(cr, palette_colour(k));
    const size_t n = std::min(s.x.size(), s.y.size());
    if (s.lo.size() >= n && s.hi.size() >= n && n > 0) draw_range(cr, s, n, px, py);
    set_colour(cr, palette_colour(k));
    cairo_set_line_width(cr, 2);
    if (s.dashed) {
      const double dash[] = {7, 5};
      cairo_set_dash(cr, dash, 2, 0);
    }
    if (s.line) {
      bool pen_down = false;
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.y[i])) {
          pen_down = false;
          continue;
        }
        pen_down ? cairo_line_to(cr, px(s.x[i]), py(s.y[i]))
                 : cairo_move_to(cr, px(s.x[i]), py(s.y[i]));
        pen_down = true;
      }
      cairo_stroke(cr);
    }
    cairo_set_dash(cr, nullptr, 0, 0);
    if (s.dots) {
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.y[i])) continue;
        cairo_arc(cr, px(s.x[i]), py(s.y[i]), 3.5, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  cairo_restore(cr);
}

void write_line_panels_png(const std::vector<LinePanel>& panels, const std::string& path,
                           const std::string& what, int columns, int panel_w, int panel_h) {
  XOMNI_CHECK(!panels.empty(), what, ": nothing to plot for ", path);
  const int cols = columns > 0 ? columns : int(panels.size());
  const int rows = (int(panels.size()) + cols - 1) / cols;
  const std::vector<Series>& legend = panels[0].series;
  const int legend_h = legend.size() > 1 ? 40 : 0;
  Canvas c(cols * panel_w, rows * panel_h + legend_h, what);
  // Margins inside a panel's cell: tick labels left, title above, x labels below.
  const double left = 80, right = 20, top = 45, bottom = 55;
  for (size_t i = 0; i < panels.size(); ++i) {
    const double cx = double(i % cols) * panel_w, cy = double(i / cols) * panel_h;
    draw_line_panel(c.cr, panels[i], cx + left, cy + top, panel_w - left - right,
                    panel_h - top - bottom);
  }
  double lx = left;
  for (size_t k = 0; legend_h > 0 && k < legend.size(); ++k) {
    set_colour(c.cr, palette_colour(k));
    cairo_rectangle(c.cr, lx, rows * panel_h + 10, 14, 14);
    cairo_fill(c.cr);
    cairo_set_source_rgb(c.cr, 0, 0, 0);
    text_aligned(c.cr, lx + 20, rows * panel_h + 22, legend[k].label, 12, 0);
    cairo_text_extents_t ext;
    cairo_text_extents(c.cr, legend[k].label.c_str(), &ext);
    lx += 40 + ext.x_advance;
  }
  c.write_png(path);
}

}  // namespace xomni::cli
