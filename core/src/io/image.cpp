// Image: the constructor (a w x h image filled with one colour).
#include "xomni/core/io/image.h"

#include "xomni/core/tensor/error.h"

namespace xomni {

Image::Image(int64_t w, int64_t h, uint8_t r, uint8_t g, uint8_t b) : width(w), height(h) {
  XOMNI_CHECK(w >= 0 && h >= 0, "Image: negative size ", w, "x", h);
  rgb.resize(size_t(3 * w * h));
  for (size_t i = 0; i < rgb.size(); i += 3) rgb[i] = r, rgb[i + 1] = g, rgb[i + 2] = b;
}

}  // namespace xomni
