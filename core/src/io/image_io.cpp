// PNG (libpng), JPEG (libjpeg) and binary PPM reading, PNG writing, and separable area/bilinear
// resizing. Both libraries report errors through longjmp; the setjmp frames below hold no C++
// objects whose destructors a longjmp would skip (buffers are allocated before setjmp, files closed
// after).
#include "xomni/core/io/image_io.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs size_t and FILE declared before it
#include <jpeglib.h>
#include <jerror.h>  // the JWRN_ warning codes
// clang-format on
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "xomni/core/tensor/error.h"

namespace xomni {

namespace {

struct File {
  std::FILE* f = nullptr;
  explicit File(std::FILE* file) : f(file) {}
  ~File() {
    if (f) std::fclose(f);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
};

struct PngError {
  char message[256] = "";
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(err->message, sizeof err->message, "%s", msg);
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

// alpha-composites RGBA8 over white into RGB8.
void composite_over_white(const std::vector<uint8_t>& rgba, Image& out) {
  for (size_t p = 0, n = size_t(out.width * out.height); p < n; ++p) {
    const unsigned a = rgba[4 * p + 3];
    for (int c = 0; c < 3; ++c)
      out.rgb[3 * p + size_t(c)] =
          uint8_t((rgba[4 * p + size_t(c)] * a + 255u * (255u - a) + 127u) / 255u);
  }
}

// The size in the IHDR chunk (always first: signature, length, "IHDR", width, height, all
// big-endian), checked against the pixel limit before libpng reads further chunks or sizes buffers.
void check_png_header_size(std::FILE* f, const std::string& path) {
  unsigned char b[24];
  const bool got = std::fread(b, 1, sizeof b, f) == sizeof b;
  std::rewind(f);
  if (!got || std::memcmp(b + 12, "IHDR", 4) != 0) return;  // libpng reports the damage
  auto be32 = [](const unsigned char* p) {
    return int64_t(p[0]) << 24 | int64_t(p[1]) << 16 | int64_t(p[2]) << 8 | int64_t(p[3]);
  };
  check_image_size(be32(b + 16), be32(b + 20), "read_image " + path + " (PNG header)");
}

Image read_png(std::FILE* f, const std::string& path) {
  check_png_header_size(f, path);
  PngError err;
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  XOMNI_CHECK(png, "read_image ", path, ": cannot create a PNG reader");
  png_infop info = png_create_info_struct(png);
  std::vector<uint8_t> rgba;
  std::vector<png_bytep> rows;
  Image out;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    // libpng's default reader says only "Read Error" when the file ends early.
    const bool short_read = std::strcmp(err.message, "Read Error") == 0;
    throw Error("read_image " + path + ": damaged PNG: " +
                (short_read ? std::string("the file ends early (truncated)") : err.message));
  }
  XOMNI_CHECK(info, "read_image ", path, ": cannot create a PNG reader");
  png_init_io(png, f);
  // libpng's own cap (a million pixels a side) would report as a damaged file; the pixel limit
  // below says what is wrong and how to raise it.
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
  png_read_info(png, info);
  // Checked before png_read_update_info, which already sizes row buffers from the header.
  try {
    check_image_size(int64_t(png_get_image_width(png, info)),
                     int64_t(png_get_image_height(png, info)),
                     "read_image " + path + " (PNG header)");
  } catch (const Error&) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  // Everything becomes 8-bit RGBA: palettes and low bit depths expand, tRNS becomes alpha,
  // 16-bit scales with rounding, grey is copied to RGB, a missing alpha is filled opaque.
  png_set_expand(png);
  png_set_scale_16(png);
  png_set_gray_to_rgb(png);
  png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (png_get_rowbytes(png, info) != size_t(w) * 4) png_error(png, "unexpected row layout");
  rgba.resize(size_t(w) * h * 4);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = rgba.data() + size_t(y) * w * 4;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  out = Image(int64_t(w), int64_t(h));
  composite_over_white(rgba, out);
  return out;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "";
  char lost_data[JMSG_LENGTH_MAX] = "";  // the first warning after which pixels are made up
};

void jpeg_error_fn(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg only warns when the data ends early or is corrupt, and fills the missing rows with grey;
// those warnings are kept so that the read fails instead. Harmless ones (extra bytes between
// markers, an unknown JFIF revision) are ignored.
void jpeg_warning_fn(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_MUST_RESYNC:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_BOGUS_PROGRESSION:
      if (!err->lost_data[0]) (*cinfo->err->format_message)(cinfo, err->lost_data);
      break;
    default:
      break;
  }
}

// CMYK (or YCCK, which libjpeg turns into CMYK) to RGB. Adobe's writers store the inks inverted
// (255 = no ink), which their APP14 marker tells.
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int64_t n, bool inverted) {
  for (int64_t i = 0; i < n; ++i, cmyk += 4, rgb += 3) {
    const unsigned k = inverted ? cmyk[3] : 255u - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned v = inverted ? cmyk[c] : 255u - cmyk[c];
      rgb[c] = uint8_t((v * k + 127u) / 255u);
    }
  }
}

Image read_jpeg(std::FILE* f, const std::string& path) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_fn;
  err.mgr.emit_message = jpeg_warning_fn;
  Image out;
  std::vector<uint8_t> cmyk_row;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    if (err.lost_data[0])
      throw Error("read_image " + path + ": truncated or damaged JPEG (" + err.lost_data +
                  "): " + err.message);
    throw Error("read_image " + path + ": damaged JPEG: " + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  try {
    check_image_size(int64_t(cinfo.image_width), int64_t(cinfo.image_height),
                     "read_image " + path + " (JPEG header)");
  } catch (const Error&) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  // libjpeg converts greyscale and YCbCr to RGB itself, but not CMYK/YCCK (print JPEGs, often
  // from Photoshop): those come out as CMYK and are converted below.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != (cmyk ? 4 : 3)) {
    std::snprintf(err.message, sizeof err.message, "%d output components, expected %d",
                  cinfo.output_components, cmyk ? 4 : 3);
    std::longjmp(err.jump, 1);
  }
  out.width = cinfo.output_width;
  out.height = cinfo.output_height;
  out.rgb.resize(size_t(3 * out.width * out.height));
  if (cmyk) cmyk_row.resize(size_t(4 * out.width));
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* rgb = out.rgb.data() + size_t(3 * out.width) * cinfo.output_scanline;
    JSAMPROW row = cmyk ? cmyk_row.data() : rgb;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) cmyk_to_rgb(cmyk_row.data(), rgb, out.width, cinfo.saw_Adobe_marker);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  // A truncated or corrupt file decodes "successfully" with grey rows; refuse it.
  XOMNI_CHECK(!err.lost_data[0], "read_image ", path, ": truncated or damaged JPEG (",
              err.lost_data, "); libjpeg would fill the missing part with grey");
  return out;
}

// Binary PPM (P6, maxval 255): "P6", width, height and maxval as decimal numbers separated by
// whitespace and '#' comments, one whitespace byte, then the pixels.
Image read_ppm(std::FILE* f, const std::string& path) {
  std::fseek(f, 2, SEEK_SET);  // past "P6"
  auto number = [f] {
    int c = std::fgetc(f);
    while (std::isspace(c) || c == '#') {
      if (c == '#')
        while (c != EOF && c != '\n') c = std::fgetc(f);
      c = std::fgetc(f);
    }
    int64_t v = -1;
    for (; c >= '0' && c <= '9' && v < (int64_t(1) << 31); c = std::fgetc(f))
      v = std::max<int64_t>(v, 0) * 10 + (c - '0');
    std::ungetc(c, f);
    return v;
  };
  const int64_t width = number(), height = number(), maxval = number();
  XOMNI_CHECK(width > 0 && height > 0 && width < (1 << 20) && height < (1 << 20) && maxval == 255 &&
                  std::isspace(std::fgetc(f)),
              "read_image ", path, ": not a binary PPM (P6, maxval 255)");
  check_image_size(width, height, "read_image " + path + " (PPM header)");
  Image out(width, height);
  XOMNI_CHECK(std::fread(out.rgb.data(), 1, out.rgb.size(), f) == out.rgb.size(), "read_image ",
              path, ": the PPM pixel data is truncated");
  return out;
}

// Per output index along one axis: the source indices and weights (summing to 1).
struct Taps {
  std::vector<int64_t> first;  // first source index of output i
  std::vector<std::vector<double>> weights;
};

Taps make_taps(int64_t src, int64_t dst) {
  Taps t;
  t.first.resize(size_t(dst));
  t.weights.resize(size_t(dst));
  const double scale = double(src) / double(dst);
  for (int64_t i = 0; i < dst; ++i) {
    std::vector<double>& w = t.weights[size_t(i)];
    if (src == dst) {
      t.first[size_t(i)] = i;
      w = {1.0};
    } else if (dst < src) {  // area: output i covers source [i * scale, (i + 1) * scale)
      const double lo = double(i) * scale, hi = double(i + 1) * scale;
      const int64_t a = int64_t(std::floor(lo)), b = std::min(src, int64_t(std::ceil(hi)));
      t.first[size_t(i)] = a;
      for (int64_t k = a; k < b; ++k)
        w.push_back((std::min(hi, double(k + 1)) - std::max(lo, double(k))) / scale);
    } else {  // bilinear between the two nearest source centres
      const double x = std::clamp((double(i) + 0.5) * scale - 0.5, 0.0, double(src - 1));
      const int64_t a = std::min(int64_t(std::floor(x)), src - 1);
      const double f = x - double(a);
      t.first[size_t(i)] = a;
      w = {1.0 - f};
      if (a + 1 < src) w.push_back(f);
    }
  }
  return t;
}

}  // namespace

Image read_image(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  XOMNI_CHECK(file.f, "read_image: cannot open ", path, ": ", std::strerror(errno));
  unsigned char sig[8] = {0};
  const size_t got = std::fread(sig, 1, sizeof sig, file.f);
  std::rewind(file.f);
  if (got == 8 && png_sig_cmp(sig, 0, 8) == 0) return read_png(file.f, path);
  if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
    return read_jpeg(file.f, path);
  if (got >= 2 && sig[0] == 'P' && sig[1] == '6') return read_ppm(file.f, path);
  throw Error("read_image " + path +
              ": not a PNG or JPEG file, nor a binary PPM (unknown signature)");
}

void write_png(const Image& image, const std::string& path) {
  check_image_size(image.width, image.height, "write_png " + path);
  XOMNI_CHECK(image.width >= 1 && image.height >= 1 &&
                  image.rgb.size() == size_t(3 * image.width * image.height),
              "write_png ", path, ": invalid image ", image.width, "x", image.height, " with ",
              image.rgb.size(), " bytes");
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  XOMNI_CHECK(f, "write_png: cannot create ", tmp, ": ", std::strerror(errno));
  PngError err;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  std::vector<png_bytep> rows(size_t(image.height));
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    std::remove(tmp.c_str());
    throw Error("write_png " + tmp + ": " + (err.message[0] ? err.message : "libpng failed"));
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  for (int64_t y = 0; y < image.height; ++y)
    rows[size_t(y)] = const_cast<png_bytep>(image.at(0, y));
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  const bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw Error("write_png: cannot write " + path + ": " + std::strerror(e));
  }
}

Image resize_image(const Image& image, int64_t w, int64_t h) {
  XOMNI_CHECK(w >= 1 && h >= 1, "resize_image: target size ", w, "x", h, " must be >= 1x1");
  check_image_size(image.width, image.height, "resize_image: the source");  // 3wh cannot wrap
  XOMNI_CHECK(image.width >= 1 && image.height >= 1 &&
                  image.rgb.size() == size_t(3 * image.width * image.height),
              "resize_image: invalid source image ", image.width, "x", image.height);
  if (w == image.width && h == image.height) return image;
  check_image_size(w, h, "resize_image: the target");
  check_image_size(w, image.height,
                   "resize_image: the intermediate (target width x source height)");
  const Taps tx = make_taps(image.width, w), ty = make_taps(image.height, h);
  // Horizontal pass into doubles (source rows x w), then vertical pass with rounding.
  std::vector<double> tmp(size_t(3 * w * image.height));
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double acc[3] = {0, 0, 0};
      const std::vector<double>& wt = tx.weights[size_t(x)];
      for (size_t k = 0; k < wt.size(); ++k) {
        const uint8_t* p = image.at(tx.first[size_t(x)] + int64_t(k), y);
        for (int c = 0; c < 3; ++c) acc[c] += wt[k] * p[c];
      }
      for (int c = 0; c < 3; ++c) tmp[size_t(3 * (y * w + x) + c)] = acc[c];
    }
  Image out(w, h);
  for (int64_t y = 0; y < h; ++y) {
    const std::vector<double>& wt = ty.weights[size_t(y)];
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        double acc = 0;
        for (size_t k = 0; k < wt.size(); ++k)
          acc += wt[k] * tmp[size_t(3 * ((ty.first[size_t(y)] + int64_t(k)) * w + x) + c)];
        out.at(x, y)[c] = uint8_t(std::clamp(std::floor(acc + 0.5), 0.0, 255.0));
      }
  }
  return out;
}

std::pair<int64_t, int64_t> fit_size(int64_t w, int64_t h, int64_t short_edge,
                                     int64_t max_long_edge) {
  XOMNI_CHECK(w >= 1 && h >= 1 && short_edge >= 1, "fit_size: image ", w, "x", h,
              " and short edge ", short_edge, " must be >= 1");
  const int64_t s = std::min(w, h), l = std::max(w, h);
  // round(a * b / c) half up, in integers; refused where 2ab + c would overflow 64 bits (an edge
  // that long is far beyond any pixel limit anyway)
  auto scale = [&](int64_t a, int64_t b, int64_t c) {
    int64_t n = 0;
    XOMNI_CHECK(!__builtin_mul_overflow(a, b, &n) && !__builtin_mul_overflow(n, 2, &n) &&
                    !__builtin_add_overflow(n, c, &n),
                "fit_size: image ", w, "x", h, " at short edge ", short_edge,
                " has an edge beyond 64 bits");
    return n / (2 * c);
  };
  int64_t ns = short_edge, nl = scale(l, short_edge, s);
  if (max_long_edge > 0 && nl > max_long_edge) {
    nl = max_long_edge;
    ns = std::max<int64_t>(1, scale(s, max_long_edge, l));
  }
  return w <= h ? std::pair{ns, nl} : std::pair{nl, ns};
}

Image fit_image(const Image& image, int64_t short_edge, int64_t max_long_edge) {
  const auto [w, h] = fit_size(image.width, image.height, short_edge, max_long_edge);
  return resize_image(image, w, h);
}

}  // namespace xomni
