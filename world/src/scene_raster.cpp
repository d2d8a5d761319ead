// The scene's random stream and rasteriser: exact pixel-centre coverage, no anti-aliasing, so
// every pixel of a shape has exactly its palette colour (the checker's ground truth is exact).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "scene_internal.h"
#include "xomni/core/tensor/random.h"

namespace xomni::world::detail {

uint32_t SceneRng::next_u32() {
  if (used_ == 4) {
    philox4x32(seed_, base_ + counter_++, buf_);
    used_ = 0;
  }
  return buf_[used_++];
}

double SceneRng::uniform() {
  const uint64_t hi = next_u32() >> 5, lo = next_u32() >> 6;  // 27 + 26 = 53 bits
  return double((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

int64_t SceneRng::range(int64_t lo, int64_t hi) {
  return lo + int64_t(uniform() * double(hi - lo + 1));
}

double SceneRng::normal() {
  const double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

void fill_background(Image& image, bool textured, SceneRng& rng) {
  const uint8_t* g = kSceneBackground;
  image.rgb.assign(size_t(3 * image.width * image.height), 0);
  // Texture: +-8 grey levels (noise or diagonal stripes), far below the ~100 between the grey
  // and any shape colour.
  const int64_t kind = textured ? rng.range(1, 2) : 0, period = rng.range(4, 8);
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x) {
      int delta = 0;
      if (kind == 1) delta = int(rng.range(-8, 8));
      if (kind == 2) delta = ((x + y) / period) % 2 ? 8 : -8;
      uint8_t* p = image.at(x, y);
      for (int c = 0; c < 3; ++c) p[c] = uint8_t(std::clamp(int(g[c]) + delta, 0, 255));
    }
}

namespace {

// The shape's outline as a polygon (triangle, star) in pixel coordinates.
std::vector<std::array<double, 2>> polygon(const Placed& p) {
  std::vector<std::array<double, 2>> v;
  if (p.shape == 2) {  // upright isosceles triangle filling its square
    v = {{p.x + p.s / 2, p.y}, {p.x + p.s, p.y + p.s}, {p.x, p.y + p.s}};
  } else {  // five-pointed star, point up, inner radius 0.38 of the outer
    const double r = p.s / 2, cx = p.x + r, cy = p.y + r + 0.05 * p.s;
    for (int k = 0; k < 10; ++k) {
      const double a = -std::numbers::pi / 2 + k * std::numbers::pi / 5;
      const double rr = k % 2 ? 0.38 * r : r;
      v.push_back({cx + rr * std::cos(a), cy + rr * std::sin(a)});
    }
  }
  return v;
}

bool inside_polygon(const std::vector<std::array<double, 2>>& v, double px, double py) {
  bool in = false;  // even-odd crossing test
  for (size_t i = 0, j = v.size() - 1; i < v.size(); j = i++) {
    if ((v[i][1] > py) != (v[j][1] > py)) {
      const double x = v[j][0] + (py - v[j][1]) * (v[i][0] - v[j][0]) / (v[i][1] - v[j][1]);
      if (px < x) in = !in;
    }
  }
  return in;
}

}  // namespace

std::array<int64_t, 4> draw_shape(Image& image, const Placed& p) {
  const auto& c = scene_palette()[size_t(p.color)];
  const auto v = p.shape >= 2 ? polygon(p) : std::vector<std::array<double, 2>>{};
  std::array<int64_t, 4> box = {image.width, image.height, 0, 0};
  const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(p.x)));
  const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(p.y)));
  const int64_t x1 = std::min<int64_t>(image.width, int64_t(std::ceil(p.x + p.s)) + 1);
  const int64_t y1 = std::min<int64_t>(image.height, int64_t(std::ceil(p.y + p.s)) + 1);
  const double r = p.s / 2, cx = p.x + r, cy = p.y + r;
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x) {
      const double px = double(x) + 0.5, py = double(y) + 0.5;
      bool in = false;
      if (p.shape == 0) in = (px - cx) * (px - cx) + (py - cy) * (py - cy) <= r * r;
      if (p.shape == 1) in = px >= p.x && px < p.x + p.s && py >= p.y && py < p.y + p.s;
      if (p.shape >= 2) in = inside_polygon(v, px, py);
      if (!in) continue;
      uint8_t* q = image.at(x, y);
      q[0] = c.r, q[1] = c.g, q[2] = c.b;
      box = {std::min(box[0], x), std::min(box[1], y), std::max(box[2], x + 1),
             std::max(box[3], y + 1)};
    }
  return box;
}

}  // namespace xomni::world::detail
