#pragma once
// Small Cairo helpers for the PNG pictures of the command line (`xomni timeline`, `xomni report`):
// a canvas that writes itself to a file, text, colours, tick spacing, and line charts (panels of
// x/y series with axes, ticks, grid and a legend).
#include <cairo.h>

#include <functional>
#include <string>
#include <vector>

namespace xomni::cli {

// Owns a white Cairo image surface and its context (font: DejaVu Sans); throws with Cairo's reason
// when either cannot be made. `what` names the picture in errors.
struct Canvas {
  cairo_surface_t* surface;
  cairo_t* cr;
  std::string what;
  Canvas(int width, int height, std::string what);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;
  // Writes the PNG; throws naming `path` and Cairo's reason when it cannot.
  void write_png(const std::string& path) const;
};

// Draws `s` at size `size` with its left edge (align 0), centre (0.5) or right edge (1) at x and
// its baseline at y, or centred on (x, y) both ways when centre is true.
void text_at(cairo_t* cr, double x, double y, const std::string& s, double size, bool centre);
void text_aligned(cairo_t* cr, double x, double y, const std::string& s, double size, double align);
// Sets an 8-bit RGB colour (0xRRGGBB), so a pixel of the PNG has exactly these values.
void set_colour(cairo_t* cr, unsigned rgb);
// The i-th colour of the series palette (0xRRGGBB; repeats after six).
unsigned palette_colour(size_t i);
// A "nice" tick spacing (1, 2 or 5 x 10^k) giving about `want` ticks over `span` (> 0).
double tick_step(double span, int want);
// A short label for a tick value ("%.3g" style, no trailing noise).
std::string tick_label(double v);

// Light horizontal grid lines across (x0, x0 + w), each labelled on the left, at "nice" ticks
// (about five) from the first at or above `lo` up to `hi`; `py` maps a value to its pixel row.
void draw_y_grid(cairo_t* cr, double x0, double w, double lo, double hi,
                 const std::function<double(double)>& py);

// One curve: points (x[i], y[i]); NaN y values are gaps. Drawn as a line with a dot per point.
// With lo/hi (one per point, e.g. the min and max over seeds) the range is drawn too: whiskers
// when the curve has at most 16 points, a pale band when it has more.
struct Series {
  std::string label;
  std::vector<double> x, y;
  bool dots = true;
  bool line = true;
  bool dashed = false;
  std::vector<double> lo = {}, hi = {};
};

// One chart: its series share the axes. With log_x the x axis is logarithmic (base 2) and ticked
// at the x values of the data; otherwise ticks are evenly spaced. y starts at 0 when y_from_zero.
struct LinePanel {
  std::string title, x_label;
  std::vector<Series> series;
  bool log_x = false;
  bool y_from_zero = false;
};

// Draws a panel into the plot area (x0, y0, w, h); title above, tick labels around it.
void draw_line_panel(cairo_t* cr, const LinePanel& panel, double x0, double y0, double w, double h);

// Draws the panels in a grid of `columns` (0: all in one row), each panel_w x panel_h pixels
// including its margins, with a legend of the first panel's series labels underneath when
// there is more than one series, and writes the PNG to `path`.
void write_line_panels_png(const std::vector<LinePanel>& panels, const std::string& path,
                           const std::string& what, int columns = 0, int panel_w = 480,
                           int panel_h = 400);

}  // namespace xomni::cli
