#pragma once
// A picture for a person to look at: images in rows, originals beside their reconstructions.
#include <vector>

#include "xomni/core/io/image.h"

namespace xomni::codec {

// Row i shows left[i] and right[i] side by side on a white background with a 4-pixel gutter;
// every cell is as large as the largest image.
Image side_by_side_grid(const std::vector<Image>& left, const std::vector<Image>& right);

// Images in rows of ceil(sqrt(N)) on white with a 4-pixel gutter, each at the top left of a cell
// as large as the largest image (one image: itself).
Image tile_grid(const std::vector<Image>& images);

}  // namespace xomni::codec
