#pragma once
// An 8-bit RGB image in memory and a sample of the image datasets (an image with its structured
// metadata and captions). Image files (PNG, JPEG) are read and written by image_io.h; datasets of
// samples live in HDF5 shards (image_data.h).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace xomni {

// The largest image, in pixels, that is read, resized or made: a header claiming more is refused
// before any buffer is sized from it (a hostile or damaged file would otherwise ask for terabytes).
// Default kDefaultMaxImagePixels (256 megapixels, 768 MiB of RGB); the environment variable
// XOMNI_MAX_IMAGE_PIXELS (a positive integer) raises or lowers it.
inline constexpr int64_t kDefaultMaxImagePixels = int64_t(1) << 28;
int64_t max_image_pixels();
// Throws naming `what` when a w x h image is negative, overflows, or exceeds max_image_pixels().
void check_image_size(int64_t w, int64_t h, const std::string& what);

struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel: size 3 * width * height

  Image() = default;
  // Throws (check_image_size) when w x h is negative or beyond the pixel limit.
  Image(int64_t w, int64_t h, uint8_t r = 0, uint8_t g = 0, uint8_t b = 0);
  uint8_t* at(int64_t x, int64_t y) { return rgb.data() + 3 * (y * width + x); }
  const uint8_t* at(int64_t x, int64_t y) const { return rgb.data() + 3 * (y * width + x); }
  bool operator==(const Image&) const = default;
};

// One sample of an image dataset.
struct ImageSample {
  Image image;
  std::string kind;                   // e.g. "scene", "text", "imported"
  std::string metadata_json;          // structured description (objects, text, source file, ...)
  std::vector<std::string> captions;  // short prompt ... dense caption
  std::vector<std::pair<std::string, std::string>> qa;  // question, answer
};

}  // namespace xomni
