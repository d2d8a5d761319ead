// The codec stages' plain helpers: byte-level LM examples (closed form), images <-> tensors, the
// per-sample draws, the patches the pixel head is asked for, and the side-by-side grid.
#include <gtest/gtest.h>

#include <cmath>

#include "codec/byte_text.h"
#include "codec/codec_data.h"
#include "codec/image_grid.h"
#include "xomni/core/tensor/random.h"

using namespace xomni;
using namespace xomni::codec;

TEST(ByteText, PromptUnsupervisedAnswerAndEndSupervised) {
  const ByteExample e = byte_example("Q? ", "ab", 64);
  // begin, 'Q', '?', ' ', 'a', 'b'
  ASSERT_EQ(e.ids, (std::vector<int64_t>{kByteBegin, 'Q', '?', ' ', 'a', 'b'}));
  // Position p predicts id p + 1: ' ' -> 'a', 'a' -> 'b', 'b' -> end.
  EXPECT_EQ(e.targets, (std::vector<int64_t>{-100, -100, -100, 'a', 'b', kByteEnd}));
}

TEST(ByteText, CutsThePromptFrontFirstThenTheAnswerEnd) {
  const ByteExample e = byte_example("abcdef", "XY", 5);  // begin + 4 ids
  EXPECT_EQ(e.ids, (std::vector<int64_t>{kByteBegin, 'e', 'f', 'X', 'Y'}));
  EXPECT_EQ(e.targets, (std::vector<int64_t>{-100, -100, 'X', 'Y', kByteEnd}));
  const ByteExample cut = byte_example("abc", "LONGANSWER", 4);
  EXPECT_EQ(cut.ids, (std::vector<int64_t>{kByteBegin, 'L', 'O', 'N'}));
  EXPECT_EQ(cut.targets, (std::vector<int64_t>{'L', 'O', 'N', kByteEnd}));
  for (int64_t n = 2; n < 12; ++n) EXPECT_LE(int64_t(byte_example("xyz", "abcd", n).ids.size()), n);
}

TEST(ByteText, NonAsciiBytesStayBytes) {
  const ByteExample e = byte_example("", "\xc3\xa9", 8);  // é in UTF-8
  EXPECT_EQ(e.ids, (std::vector<int64_t>{kByteBegin, 0xc3, 0xa9}));
}

TEST(CodecData, ImagesRoundTripThroughTensors) {
  ImageSample s;
  s.image = Image(8, 4);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      uint8_t* p = s.image.at(x, y);
      p[0] = uint8_t(x * 30), p[1] = uint8_t(y * 60), p[2] = uint8_t(255 - x - y);
    }
  ImageDataOptions keep;
  keep.image_size = 4;
  const Tensor t = images_to_tensor({s, s}, keep);
  ASSERT_EQ(t.shape(), (Shape{2, 3, 4, 8}));
  EXPECT_FLOAT_EQ(t.data<float>()[0 * 32 + 1 * 8 + 2], 60.0f / 255.0f);  // b0, R, y1, x2
  const std::vector<Image> back = tensor_to_images(t);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1], s.image);
}

TEST(CodecData, MixedSizesInOneBatchAreRefused) {
  ImageSample a, b;
  a.image = Image(8, 8);
  b.image = Image(16, 8);
  ImageDataOptions fit;
  fit.image_size = 8;
  fit.train = "ds";
  try {
    images_to_tensor({a, b}, fit);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("8x8 and 16x8"), std::string::npos) << e.what();
  }
}

TEST(CodecData, SampleDrawsAreUniformAndDeterministic) {
  double mean = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double u = sample_uniform(7, i, 1);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / n;
  }
  EXPECT_NEAR(mean, 0.5, 4 * std::sqrt(1.0 / 12 / n));  // 4 standard errors
  EXPECT_EQ(sample_uniform(7, 3, 1), sample_uniform(7, 3, 1));
  EXPECT_NE(sample_uniform(7, 3, 1), sample_uniform(7, 3, 2));
  EXPECT_NE(sample_uniform(7, 3, 1), sample_uniform(8, 3, 1));
}

// The pixel head's targets: patch (r, c) of image b is row r * w + c, flattened channel, row,
// column, each pixel v read off the image by index as 2v - 1.
TEST(CodecData, PatchPixelsAreThePatchesInRasterOrder) {
  Generator gen(11);
  const int64_t B = 2, H = 8, W = 12, p = 4, h = H / p, w = W / p;
  const Tensor images = rand({B, 3, H, W}, gen).contiguous();
  const Tensor patches = patch_pixels(images, p).contiguous();
  ASSERT_EQ(patches.shape(), (Shape{B, h * w, 3 * p * p}));
  const float* x = images.data<float>();
  const float* y = patches.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t c = 0; c < w; ++c)
        for (int64_t ch = 0; ch < 3; ++ch)
          for (int64_t i = 0; i < p; ++i)
            for (int64_t j = 0; j < p; ++j) {
              const float v = x[((b * 3 + ch) * H + r * p + i) * W + c * p + j];
              const float got = y[(b * h * w + r * w + c) * 3 * p * p + (ch * p + i) * p + j];
              ASSERT_FLOAT_EQ(got, 2 * v - 1) << b << " " << r << " " << c << " " << ch;
            }
  EXPECT_THROW(patch_pixels(rand({1, 3, 8, 10}, gen), 4), Error);
}

TEST(ImageGrid, OriginalsLeftReconstructionsRight) {
  const Image red(4, 4, 255, 0, 0), blue(4, 4, 0, 0, 255);
  const Image g = side_by_side_grid({red, red}, {blue, blue});
  EXPECT_EQ(g.width, 4 + 2 * (4 + 4));
  EXPECT_EQ(g.height, 4 + 2 * (4 + 4));
  EXPECT_EQ(g.at(4, 4)[0], 255);    // first cell: red
  EXPECT_EQ(g.at(12, 12)[2], 255);  // right cell of row 0: blue
  EXPECT_EQ(g.at(12, 12)[0], 0);
  EXPECT_EQ(g.at(0, 0)[1], 255);  // gutter: white
  EXPECT_THROW(side_by_side_grid({red}, {}), Error);
}

TEST(ImageGrid, TilesOfMixedSizesShareTheLargestCell) {
  // A wide text render beside a square scene (RL rounds mix grids): cells are 8 wide, 4 high.
  const Image wide(8, 2, 255, 0, 0), square(4, 4, 0, 0, 255);
  const Image g = tile_grid({wide, square});
  EXPECT_EQ(g.width, 4 + 2 * (8 + 4));  // two columns (ceil(sqrt(2)))
  EXPECT_EQ(g.height, 4 + 1 * (4 + 4));
  EXPECT_EQ(g.at(4 + 7, 4 + 1)[0], 255);   // the wide image's last pixel
  EXPECT_EQ(g.at(4, 4 + 2)[1], 255);       // below it, inside its cell: white
  EXPECT_EQ(g.at(16 + 3, 4 + 3)[2], 255);  // the square's last pixel
  EXPECT_EQ(g.at(16 + 4, 4)[1], 255);      // right of it, inside its cell: white
}
