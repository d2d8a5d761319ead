// Image files and resampling: PNG round trips, PNG variants written here with libpng (16-bit,
// palette, grey, alpha, interlaced), JPEG decoding of a file encoded here with libjpeg, errors
// that name the file, and closed forms of resize_image / fit_size.
#include <gtest/gtest.h>
// clang-format off
#include <cstdio>  // jpeglib.h needs size_t and FILE declared before it
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "check.h"
#include "xomni/core/io/checkpoint.h"  // crc32 for the crafted PNG chunk
#include "xomni/core/io/image_io.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

class ImageIo : public xomni::test::TempDirTest {};

Image gradient(int64_t w, int64_t h) {
  Image im(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      im.at(x, y)[0] = uint8_t(x * 255 / std::max<int64_t>(1, w - 1));
      im.at(x, y)[1] = uint8_t(y * 255 / std::max<int64_t>(1, h - 1));
      im.at(x, y)[2] = uint8_t((x * 7 + y * 13) % 256);
    }
  return im;
}

// Writes a PNG with libpng directly: `rows` holds h rows of packed samples in the file's format.
void write_raw_png(const std::string& path, int w, int h, int bit_depth, int color_type,
                   const std::vector<std::vector<uint8_t>>& rows,
                   const std::vector<png_color>& palette = {},
                   const std::vector<uint8_t>& trns = {}, bool interlace = false) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  ASSERT_EQ(setjmp(png_jmpbuf(png)), 0);
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), bit_depth, color_type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), int(palette.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), int(trns.size()), nullptr);
  png_write_info(png, info);
  if (bit_depth == 16) png_set_swap(png);  // rows are given little-endian below
  std::vector<png_bytep> ptrs;
  for (const auto& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

void write_jpeg(const std::string& path, const Image& im, int quality) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(im.width);
  c.image_height = JDIMENSION(im.height);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(im.at(0, int64_t(c.next_scanline)));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

}  // namespace

TEST_F(ImageIo, PngRoundTripIsBitwise) {
  for (auto [w, h] : {std::pair<int64_t, int64_t>{37, 23}, {1, 1}, {256, 3}}) {
    const Image im = gradient(w, h);
    write_png(im, sub("g.png"));
    EXPECT_FALSE(fs::exists(sub("g.png.tmp")));
    const Image back = read_image(sub("g.png"));
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_TRUE(back == im) << w << "x" << h;
  }
}

TEST_F(ImageIo, Png16BitScalesWithRounding) {
  const int w = 5, h = 2;
  std::vector<std::vector<uint8_t>> rows(h);
  std::vector<uint16_t> values;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w * 3; ++x) {
      const uint16_t v = uint16_t((x * 4099 + y * 31337 + 128) % 65536);
      values.push_back(v);
      rows[size_t(y)].push_back(uint8_t(v & 0xFF));
      rows[size_t(y)].push_back(uint8_t(v >> 8));
    }
  write_raw_png(sub("16.png"), w, h, 16, PNG_COLOR_TYPE_RGB, rows);
  const Image im = read_image(sub("16.png"));
  ASSERT_EQ(im.width, w);
  ASSERT_EQ(im.height, h);
  for (size_t i = 0; i < values.size(); ++i) {
    const int want = int(std::lround(values[i] * 255.0 / 65535.0));
    EXPECT_EQ(int(im.rgb[i]), want) << "sample " << i << " (16-bit " << values[i] << ")";
  }
}

TEST_F(ImageIo, PngGreyPaletteAlphaAndInterlacedInputs) {
  // 8-bit grey -> r = g = b.
  write_raw_png(sub("grey.png"), 3, 1, 8, PNG_COLOR_TYPE_GRAY, {{0, 100, 255}});
  Image g = read_image(sub("grey.png"));
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{0, 0, 0, 100, 100, 100, 255, 255, 255}));
  // 1-bit grey: 0b10100000 -> white, black, white.
  write_raw_png(sub("grey1.png"), 3, 1, 1, PNG_COLOR_TYPE_GRAY, {{0xA0}});
  g = read_image(sub("grey1.png"));
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 255, 255, 255}));
  // 2-bit palette, index 2 half transparent (alpha 128) over white.
  const std::vector<png_color> pal = {{10, 20, 30}, {200, 100, 50}, {0, 0, 254}};
  write_raw_png(sub("pal.png"), 4, 1, 2, PNG_COLOR_TYPE_PALETTE, {{0b00011000}}, pal,
                {255, 255, 128});
  g = read_image(sub("pal.png"));
  const uint8_t b = uint8_t((254 * 128 + 255 * 127 + 127) / 255);  // 254 over white at 128
  const uint8_t rg = uint8_t((255 * 127 + 127) / 255);
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{10, 20, 30, 200, 100, 50, rg, rg, b, 10, 20, 30}));
  // RGBA: alpha 0 -> white, 255 -> the colour, 51 -> (c*51 + 255*204) / 255 rounded.
  write_raw_png(sub("rgba.png"), 3, 1, 8, PNG_COLOR_TYPE_RGBA,
                {{1, 2, 3, 0, 40, 50, 60, 255, 0, 100, 200, 51}});
  g = read_image(sub("rgba.png"));
  auto over = [](int c, int a) { return uint8_t((c * a + 255 * (255 - a) + 127) / 255); };
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{255, 255, 255, 40, 50, 60, over(0, 51), over(100, 51),
                                         over(200, 51)}));
  // Adam7-interlaced RGB decodes to the same pixels as the plain file.
  const Image im = gradient(13, 9);
  std::vector<std::vector<uint8_t>> rows;
  for (int64_t y = 0; y < im.height; ++y)
    rows.emplace_back(im.at(0, y), im.at(0, y) + 3 * im.width);
  write_raw_png(sub("adam7.png"), 13, 9, 8, PNG_COLOR_TYPE_RGB, rows, {}, {}, true);
  EXPECT_TRUE(read_image(sub("adam7.png")) == im);
}

TEST_F(ImageIo, JpegDecodesWithinJpegError) {
  Image im(48, 32);
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x) {
      im.at(x, y)[0] = uint8_t(40 + 3 * x);
      im.at(x, y)[1] = uint8_t(60 + 4 * y);
      im.at(x, y)[2] = uint8_t(128 + x - y);
    }
  write_jpeg(sub("a.jpg"), im, 95);
  const Image back = read_image(sub("a.jpg"));
  ASSERT_EQ(back.width, 48);
  ASSERT_EQ(back.height, 32);
  double sum = 0;
  int worst = 0;
  for (size_t i = 0; i < im.rgb.size(); ++i) {
    const int d = std::abs(int(im.rgb[i]) - int(back.rgb[i]));
    sum += d;
    worst = std::max(worst, d);
  }
  EXPECT_LT(sum / double(im.rgb.size()), 2.0);  // quality 95 on a smooth image
  EXPECT_LE(worst, 16);
  // A file named .png holding a JPEG is still read by its signature.
  fs::copy_file(sub("a.jpg"), sub("really_jpeg.png"));
  EXPECT_TRUE(read_image(sub("really_jpeg.png")) == back);
}

TEST_F(ImageIo, ErrorsNameTheFile) {
  EXPECT_NE(error_message([&] { read_image(sub("missing.png")); }).find(sub("missing.png")),
            std::string::npos);
  std::ofstream(sub("text.png")) << "hello, not an image";
  std::string m = error_message([&] { read_image(sub("text.png")); });
  EXPECT_NE(m.find(sub("text.png")), std::string::npos) << m;
  EXPECT_NE(m.find("not a PNG or JPEG"), std::string::npos) << m;
  // Truncated PNG and JPEG.
  write_png(gradient(64, 64), sub("t.png"));
  fs::resize_file(sub("t.png"), fs::file_size(sub("t.png")) / 2);
  m = error_message([&] { read_image(sub("t.png")); });
  EXPECT_NE(m.find(sub("t.png")), std::string::npos) << m;
  EXPECT_NE(m.find("damaged PNG"), std::string::npos) << m;
  EXPECT_TRUE(test::contains(m, "truncated")) << m;
  std::ofstream(sub("t.jpg"), std::ios::binary) << std::string("\xFF\xD8\xFF\xE0garbage", 11);
  m = error_message([&] { read_image(sub("t.jpg")); });
  EXPECT_NE(m.find(sub("t.jpg")), std::string::npos) << m;
  EXPECT_NE(m.find("damaged JPEG"), std::string::npos) << m;
}

TEST(ImageResize, ConstantImageStaysConstant) {
  const Image c(37, 23, 17, 200, 255);
  for (auto [w, h] : {std::pair<int64_t, int64_t>{10, 7}, {50, 40}, {50, 7}, {3, 23}, {1, 1}}) {
    const Image r = resize_image(c, w, h);
    EXPECT_TRUE(r == Image(w, h, 17, 200, 255)) << w << "x" << h;
  }
}

TEST(ImageResize, ShrinkIsTheAreaMean) {
  Image im(2, 2);
  const uint8_t v[4][3] = {{0, 10, 255}, {100, 20, 255}, {40, 31, 0}, {60, 40, 0}};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) im.at(i % 2, i / 2)[c] = v[i][c];
  const Image r = resize_image(im, 1, 1);
  // Means 50, 25.25 -> 25, 127.5 -> 128 (half up).
  EXPECT_EQ(r.rgb, (std::vector<uint8_t>{50, 25, 128}));
  // 6 -> 4 along x: output i covers source [1.5 i, 1.5 (i + 1)).
  Image row(6, 1);
  const int src[6] = {0, 30, 60, 90, 120, 150};
  for (int x = 0; x < 6; ++x) row.at(x, 0)[0] = row.at(x, 0)[1] = row.at(x, 0)[2] = uint8_t(src[x]);
  const Image r4 = resize_image(row, 4, 1);
  // out0 = (1*0 + 0.5*30)/1.5 = 10, out1 = (0.5*30 + 1*60)/1.5 = 50,
  //   out2 = (1*90 + 0.5*120)/1.5 = 100, out3 = (0.5*120 + 1*150)/1.5 = 140.
  EXPECT_EQ(int(r4.at(0, 0)[0]), 10);
  EXPECT_EQ(int(r4.at(1, 0)[0]), 50);
  EXPECT_EQ(int(r4.at(2, 0)[0]), 100);
  EXPECT_EQ(int(r4.at(3, 0)[1]), 140);
}

TEST(ImageResize, GrowIsBilinearWithHalfPixelCentres) {
  Image im(2, 1);
  im.at(0, 0)[0] = 0;
  im.at(1, 0)[0] = 100;
  // Centres at (i + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  const Image r = resize_image(im, 4, 3);
  for (int64_t y = 0; y < 3; ++y) {
    EXPECT_EQ(int(r.at(0, y)[0]), 0);
    EXPECT_EQ(int(r.at(1, y)[0]), 25);
    EXPECT_EQ(int(r.at(2, y)[0]), 75);
    EXPECT_EQ(int(r.at(3, y)[0]), 100);
  }
  EXPECT_TRUE(resize_image(im, 2, 1) == im);
  EXPECT_NE(error_message([&] { resize_image(im, 0, 3); }).find("must be >= 1x1"),
            std::string::npos);
}

TEST(ImageResize, FitKeepsAspectAndCapsTheLongEdge) {
  EXPECT_EQ(fit_size(200, 100, 64, 0), (std::pair<int64_t, int64_t>{128, 64}));
  EXPECT_EQ(fit_size(100, 200, 64, 1024), (std::pair<int64_t, int64_t>{64, 128}));
  EXPECT_EQ(fit_size(3, 2, 3, 0), (std::pair<int64_t, int64_t>{5, 3}));  // 4.5 rounds up
  // Short edge 64 would make the long edge 256 > 128: long 128, short 100 * 128 / 400 = 32.
  EXPECT_EQ(fit_size(100, 400, 64, 128), (std::pair<int64_t, int64_t>{32, 128}));
  EXPECT_EQ(fit_size(400, 100, 64, 128), (std::pair<int64_t, int64_t>{128, 32}));
  EXPECT_EQ(fit_size(1000, 1, 8, 16), (std::pair<int64_t, int64_t>{16, 1}));  // at least 1
  EXPECT_EQ(fit_size(50, 50, 64, 64), (std::pair<int64_t, int64_t>{64, 64}));
  const Image r = fit_image(gradient(90, 30), 16, 0);
  EXPECT_EQ(r.width, 48);
  EXPECT_EQ(r.height, 16);
}

namespace {

// A PNG signature and IHDR chunk claiming w x h (8-bit RGB), then nothing: the reader must refuse
// it from the header, before sizing any buffer.
void write_png_header_only(const std::string& path, uint32_t w, uint32_t h) {
  auto be32 = [](std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(char((v >> (8 * i)) & 0xFF));
  };
  std::string chunk = "IHDR";
  be32(chunk, w);
  be32(chunk, h);
  chunk += std::string("\x08\x02\x00\x00\x00", 5);
  std::string file("\x89PNG\r\n\x1a\n", 8);
  be32(file, 13);
  file += chunk;
  be32(file, crc32(chunk.data(), chunk.size()));
  std::ofstream(path, std::ios::binary) << file;
}

// A CMYK JPEG as Adobe's writers store it (inks inverted: 255 = none), as libjpeg writes it with
// the Adobe marker.
void write_cmyk_jpeg(const std::string& path, int w, int h, const uint8_t inverted_cmyk[4]) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(w);
  c.image_height = JDIMENSION(h);
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 95, TRUE);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(size_t(4 * w));
  for (int x = 0; x < w; ++x) std::copy(inverted_cmyk, inverted_cmyk + 4, row.begin() + 4 * x);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

// Sets XOMNI_MAX_IMAGE_PIXELS for one scope.
struct PixelLimit {
  explicit PixelLimit(const char* v) { setenv("XOMNI_MAX_IMAGE_PIXELS", v, 1); }
  ~PixelLimit() { unsetenv("XOMNI_MAX_IMAGE_PIXELS"); }
};

}  // namespace

TEST_F(ImageIo, PngHeaderClaimingAHugeImageIsRefusedBeforeAllocating) {
  for (const auto& [w, h] : {std::pair<uint32_t, uint32_t>{0x7fffffffu, 0x7fffffffu},
                             std::pair<uint32_t, uint32_t>{999999u, 999999u},
                             std::pair<uint32_t, uint32_t>{70000u, 70000u}}) {
    write_png_header_only(sub("huge.png"), w, h);
    const std::string m = error_message([&] { read_image(sub("huge.png")); });
    EXPECT_TRUE(test::contains(m, sub("huge.png"))) << m;
    EXPECT_TRUE(test::contains(m, std::to_string(w) + "x" + std::to_string(h))) << m;
    EXPECT_TRUE(test::contains(m, "XOMNI_MAX_IMAGE_PIXELS")) << m;
    EXPECT_FALSE(test::contains(m, "out of memory")) << m;
  }
}

TEST_F(ImageIo, PixelLimitIsConfigurable) {
  write_png(gradient(20, 10), sub("a.png"));
  write_jpeg(sub("a.jpg"), gradient(20, 10), 90);
  EXPECT_EQ(max_image_pixels(), kDefaultMaxImagePixels);
  {
    PixelLimit limit("199");
    EXPECT_EQ(max_image_pixels(), 199);
    for (const char* name : {"a.png", "a.jpg"}) {
      const std::string m = error_message([&] { read_image(sub(name)); });
      EXPECT_TRUE(test::contains(m, sub(name))) << m;
      EXPECT_TRUE(test::contains(m, "20x10")) << m;
      EXPECT_TRUE(test::contains(m, "limit of 199")) << m;
    }
    // Resizing and making images obey it too.
    EXPECT_TRUE(test::contains(error_message([] { Image(20, 10); }), "limit of 199"));
  }
  {
    PixelLimit limit("200");
    EXPECT_EQ(read_image(sub("a.png")).width, 20);
  }
  {
    PixelLimit limit("lots");
    EXPECT_TRUE(
        test::contains(error_message([] { max_image_pixels(); }), "XOMNI_MAX_IMAGE_PIXELS='lots'"));
  }
}

TEST_F(ImageIo, JpegHeaderClaimingAHugeImageIsRefused) {
  // A real 16x16 JPEG whose SOF0 claims 65000 x 65000 (4.2 gigapixels).
  write_jpeg(sub("a.jpg"), gradient(16, 16), 90);
  std::ifstream in(sub("a.jpg"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const size_t sof = bytes.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t i : {sof + 5, sof + 7}) bytes[i] = char(0xFD), bytes[i + 1] = char(0xE8);
  std::ofstream(sub("huge.jpg"), std::ios::binary) << bytes;
  const std::string m = error_message([&] { read_image(sub("huge.jpg")); });
  EXPECT_TRUE(test::contains(m, sub("huge.jpg"))) << m;
  EXPECT_TRUE(test::contains(m, "65000x65000")) << m;
}

TEST_F(ImageIo, TruncatedJpegIsAnErrorNotGreyRows) {
  write_jpeg(sub("full.jpg"), gradient(64, 64), 90);
  EXPECT_EQ(read_image(sub("full.jpg")).width, 64);  // the intact file reads
  for (double keep : {0.3, 0.6, 0.9}) {
    fs::copy_file(sub("full.jpg"), sub("cut.jpg"), fs::copy_options::overwrite_existing);
    fs::resize_file(sub("cut.jpg"), uintmax_t(double(fs::file_size(sub("full.jpg"))) * keep));
    const std::string m = error_message([&] { read_image(sub("cut.jpg")); });
    EXPECT_TRUE(test::contains(m, sub("cut.jpg"))) << keep << ": " << m;
    EXPECT_TRUE(test::contains(m, "truncated or damaged JPEG")) << keep << ": " << m;
  }
}

TEST_F(ImageIo, CmykJpegIsConvertedToRgb) {
  // Pure red in CMYK is C=0 M=255 Y=255 K=0; Adobe stores it inverted as 255 0 0 255.
  const uint8_t red[4] = {255, 0, 0, 255};
  write_cmyk_jpeg(sub("red.jpg"), 24, 16, red);
  const Image im = read_image(sub("red.jpg"));
  ASSERT_EQ(im.width, 24);
  ASSERT_EQ(im.height, 16);
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x) {
      const uint8_t* p = im.at(x, y);
      ASSERT_GE(p[0], 245) << x << "," << y;
      ASSERT_LE(p[1], 10) << x << "," << y;
      ASSERT_LE(p[2], 10) << x << "," << y;
    }
  // 50% black (K=128 ink, stored 127) on no colour ink: a mid grey.
  const uint8_t grey[4] = {255, 255, 255, 127};
  write_cmyk_jpeg(sub("grey.jpg"), 8, 8, grey);
  const Image grey_image = read_image(sub("grey.jpg"));
  const uint8_t* g = grey_image.at(3, 3);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(int(g[c]), 127, 4);
}

TEST(ImageResize, TargetsBeyondThePixelLimitAreRefused) {
  // --short-edge 100000 on a 3:2 image: 150000 x 100000 pixels.
  const auto [w, h] = fit_size(300, 200, 100000, 0);
  EXPECT_EQ(w, 150000);
  const std::string m = error_message([] { fit_image(gradient(30, 20), 100000, 0); });
  EXPECT_TRUE(test::contains(m, "150000x100000")) << m;
  EXPECT_TRUE(test::contains(m, "XOMNI_MAX_IMAGE_PIXELS")) << m;
  // Edges whose product overflows 64 bits are refused, not wrapped.
  EXPECT_TRUE(test::contains(
      error_message([] { fit_size(int64_t(1) << 40, 1, int64_t(1) << 40, 0); }), "64 bits"));
}
