#pragma once
// Grouped bar charts for the command line's PNG reports (`xomni report study`): one group of bars
// per category, one bar per series in each group, an optional min..max whisker on each bar and
// the value written above it. Drawn with the Canvas and helpers of plot_png.h.
#include <cairo.h>

#include <string>
#include <vector>

namespace xomni::cli {

// One series of bars: value[g] is its bar in group g; NaN draws no bar and writes "n/a" at the
// axis instead (a stage that was not run). lo/hi (empty, or one per group) draw a whisker.
struct BarSeries {
  std::string label;
  std::vector<double> value, lo, hi;
};

// The chart: groups along x, series side by side inside a group in the palette's colours. The y
// axis starts at 0; with y_max > 0 it ends there (e.g. 1 for rates) unless the data goes higher.
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> groups;
  std::vector<BarSeries> series;
  double y_max = 0;
};

// Draws the chart's axes, bars and values into the plot area (x0, y0, w, h); the title above it,
// the group names below it.
void draw_bar_chart(cairo_t* cr, const BarChart& chart, double x0, double y0, double w, double h);

// A width x height PNG of the chart with a legend of the series underneath (inside the size).
void write_bar_chart_png(const BarChart& chart, const std::string& path, const std::string& what,
                         int width, int height);

}  // namespace xomni::cli
