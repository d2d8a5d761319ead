#pragma once
// Image files and resampling: PNG, JPEG and PPM in, PNG out, resize, and X-Omni style fitting.
#include <cstdint>
#include <string>
#include <utility>

#include "xomni/core/io/image.h"

namespace xomni {

// Reads a PNG (any bit depth and colour type: grey, grey+alpha, palette, RGB, RGBA, 16-bit,
// interlaced), a JPEG (greyscale or colour) or a binary PPM (P6, maxval 255) as 8-bit RGB; the
// format is taken from the file's signature, not its name. 16-bit samples are scaled to 8 bits with
// rounding (v * 255 / 65535); an alpha channel (or palette/tRNS transparency) is composited over
// white. Throws Error naming the file when it is missing, not a PNG/JPEG, or damaged.
Image read_image(const std::string& path);

// Writes an 8-bit RGB PNG (via "<path>.tmp" and a rename, so a reader never sees half a file).
void write_png(const Image& image, const std::string& path);

// Resamples to w x h (both >= 1), separably per axis: an area (box) filter along an axis that
// shrinks (each output pixel is the overlap-weighted mean of the source pixels it covers) and
// bilinear interpolation along an axis that grows or keeps its size (pixel centres at
// (i + 0.5) * src / dst - 0.5, edges clamped; equal sizes copy). Results round to nearest.
Image resize_image(const Image& image, int64_t w, int64_t h);

// The size fit_image resizes a w x h image to: the short edge becomes short_edge and the long
// edge round(long * short_edge / short); when that exceeds max_long_edge (> 0), the long edge
// becomes max_long_edge and the short edge round(short * max_long_edge / long) (at least 1)
// instead. Rounding is half up. max_long_edge <= 0 means no limit. Returns {width, height}.
std::pair<int64_t, int64_t> fit_size(int64_t w, int64_t h, int64_t short_edge,
                                     int64_t max_long_edge);
// resize_image to fit_size (aspect kept, as X-Omni resizes its training images).
Image fit_image(const Image& image, int64_t short_edge, int64_t max_long_edge);

}  // namespace xomni
