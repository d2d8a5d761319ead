// Image: the pixel limit and the constructor (a w x h image filled with one colour).
#include "xomni/core/io/image.h"

#include <cerrno>
#include <cstdlib>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/shape.h"

namespace xomni {

int64_t max_image_pixels() {
  const char* env = std::getenv("XOMNI_MAX_IMAGE_PIXELS");
  if (!env || !*env) return kDefaultMaxImagePixels;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(env, &end, 10);
  XOMNI_CHECK(errno == 0 && *end == '\0' && v > 0, "XOMNI_MAX_IMAGE_PIXELS='", env,
              "' is not a positive integer (a pixel count, default ", kDefaultMaxImagePixels, ")");
  return int64_t(v);
}

void check_image_size(int64_t w, int64_t h, const std::string& what) {
  XOMNI_CHECK(w >= 0 && h >= 0, what, ": negative image size ", w, "x", h);
  int64_t pixels = 0;
  const int64_t limit = max_image_pixels();
  XOMNI_CHECK(!__builtin_mul_overflow(w, h, &pixels) && pixels <= limit, what, ": an image of ", w,
              "x", h, " pixels is larger than the limit of ", limit,
              " pixels; set XOMNI_MAX_IMAGE_PIXELS to raise it");
}

Image::Image(int64_t w, int64_t h, uint8_t r, uint8_t g, uint8_t b) : width(w), height(h) {
  check_image_size(w, h, "Image");
  rgb.resize(size_t(3 * w * h));
  for (size_t i = 0; i < rgb.size(); i += 3) rgb[i] = r, rgb[i + 1] = g, rgb[i + 2] = b;
}

}  // namespace xomni
