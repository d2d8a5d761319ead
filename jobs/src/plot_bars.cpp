// Grouped bar charts (see plot_bars.h).
#include "plot_bars.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "plot_png.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

std::string value_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

double at(const std::vector<double>& v, size_t i) {
  return i < v.size() ? v[i] : NAN;
}

}  // namespace

void draw_bar_chart(cairo_t* cr, const BarChart& c, double x0, double y0, double w, double h) {
  double top = c.y_max > 0 ? c.y_max : 0;
  for (const BarSeries& s : c.series)
    for (size_t g = 0; g < c.groups.size(); ++g)
      for (double v : {at(s.value, g), at(s.hi, g)})
        if (std::isfinite(v)) top = std::max(top, v);
  if (!(top > 0)) top = 1;
  top *= 1.12;  // room for the values above the bars
  auto py = [&](double v) { return y0 + h - h * std::max(0.0, v) / top; };

  cairo_set_line_width(cr, 1);
  draw_y_grid(cr, x0, w, 0, top, py);
  cairo_rectangle(cr, x0, y0, w, h);
  cairo_stroke(cr);
  text_aligned(cr, x0 + w / 2, y0 - 12, c.title, 15, 0.5);
  if (!c.y_label.empty()) {
    cairo_save(cr);
    cairo_translate(cr, x0 - 48, y0 + h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_aligned(cr, 0, 0, c.y_label, 12, 0.5);
    cairo_restore(cr);
  }

  const size_t groups = c.groups.size(), per = std::max<size_t>(1, c.series.size());
  if (groups == 0) return;
  const double group_w = w / double(groups);
  const double bar_w = group_w * 0.8 / double(per);
  for (size_t g = 0; g < groups; ++g) {
    const double gx = x0 + group_w * double(g) + group_w * 0.1;
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_aligned(cr, x0 + group_w * (double(g) + 0.5), y0 + h + 17, c.groups[g], 11, 0.5);
    for (size_t k = 0; k < c.series.size(); ++k) {
      const BarSeries& s = c.series[k];
      const double v = at(s.value, g), bx = gx + bar_w * double(k);
      const double mid = bx + bar_w / 2;
      if (!std::isfinite(v)) {
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        text_aligned(cr, mid, y0 + h - 5, "n/a", 10, 0.5);
        continue;
      }
      set_colour(cr, palette_colour(k));
      cairo_rectangle(cr, bx + 1, py(v), bar_w - 2, y0 + h - py(v));
      cairo_fill(cr);
      double label_y = py(v) - 4;
      const double lo = at(s.lo, g), hi = at(s.hi, g);
      cairo_set_source_rgb(cr, 0, 0, 0);
      if (std::isfinite(lo) && std::isfinite(hi)) {
        const double cap = std::min(6.0, bar_w / 4);
        cairo_set_line_width(cr, 1.5);
        cairo_move_to(cr, mid, py(lo));
        cairo_line_to(cr, mid, py(hi));
        for (double y : {lo, hi}) {
          cairo_move_to(cr, mid - cap, py(y));
          cairo_line_to(cr, mid + cap, py(y));
        }
        cairo_stroke(cr);
        cairo_set_line_width(cr, 1);
        label_y = std::min(label_y, py(hi) - 4);
      }
      text_aligned(cr, mid, label_y, value_label(v), 10, 0.5);
    }
  }
}

void write_bar_chart_png(const BarChart& chart, const std::string& path, const std::string& what,
                         int width, int height) {
  XOMNI_CHECK(!chart.groups.empty() && !chart.series.empty(), what, ": nothing to plot for ", path);
  Canvas c(width, height, what);
  const double left = 80, right = 20, top = 45, bottom = 70;
  draw_bar_chart(c.cr, chart, left, top, width - left - right, height - top - bottom);
  double lx = left;
  for (size_t k = 0; k < chart.series.size(); ++k) {
    set_colour(c.cr, palette_colour(k));
    cairo_rectangle(c.cr, lx, height - 32, 14, 14);
    cairo_fill(c.cr);
    cairo_set_source_rgb(c.cr, 0, 0, 0);
    text_aligned(c.cr, lx + 20, height - 20, chart.series[k].label, 12, 0);
    cairo_text_extents_t ext;
    cairo_text_extents(c.cr, chart.series[k].label.c_str(), &ext);
    lx += 40 + ext.x_advance;
  }
  c.write_png(path);
}

}  // namespace xomni::cli
