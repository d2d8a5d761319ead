#include "codec/image_grid.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "xomni/core/tensor/error.h"

namespace xomni::codec {

Image side_by_side_grid(const std::vector<Image>& left, const std::vector<Image>& right) {
  XOMNI_CHECK(left.size() == right.size() && !left.empty(),
              "side_by_side_grid: needs as many left as right images, and at least one");
  constexpr int64_t gap = 4;
  int64_t cw = 0, ch = 0;
  for (const auto* set : {&left, &right})
    for (const Image& im : *set) cw = std::max(cw, im.width), ch = std::max(ch, im.height);
  const int64_t rows = int64_t(left.size());
  Image grid(gap + 2 * (cw + gap), gap + rows * (ch + gap), 255, 255, 255);
  auto paste = [&](const Image& im, int64_t x0, int64_t y0) {
    for (int64_t y = 0; y < im.height; ++y)
      std::memcpy(grid.at(x0, y0 + y), im.at(0, y), size_t(3 * im.width));
  };
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t y0 = gap + r * (ch + gap);
    paste(left[size_t(r)], gap, y0);
    paste(right[size_t(r)], gap + cw + gap, y0);
  }
  return grid;
}

Image tile_grid(const std::vector<Image>& images) {
  if (images.size() == 1) return images[0];
  const int64_t n = int64_t(images.size()), cols = int64_t(std::ceil(std::sqrt(double(n))));
  const int64_t rows = (n + cols - 1) / cols, gap = 4;
  int64_t cw = 0, ch = 0;
  for (const Image& im : images) cw = std::max(cw, im.width), ch = std::max(ch, im.height);
  Image out(cols * cw + (cols + 1) * gap, rows * ch + (rows + 1) * gap, 255, 255, 255);
  for (int64_t i = 0; i < n; ++i) {
    const Image& im = images[size_t(i)];
    const int64_t x0 = gap + (i % cols) * (cw + gap), y0 = gap + (i / cols) * (ch + gap);
    for (int64_t y = 0; y < im.height; ++y)
      std::copy_n(im.at(0, y), 3 * im.width, out.at(x0, y0 + y));
  }
  return out;
}

}  // namespace xomni::codec
