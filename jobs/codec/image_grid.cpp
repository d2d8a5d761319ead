#include "codec/image_grid.h"

#include <algorithm>
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

}  // namespace xomni::codec
