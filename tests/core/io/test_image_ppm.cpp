// read_image on binary PPM (P6, maxval 255), the format `xomni reward score` also takes: header
// comments and whitespace, the exact pixels, and errors that name the file.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "check.h"
#include "xomni/core/io/image_io.h"

using namespace xomni;
using xomni::test::error_message;

namespace {

class ImagePpm : public xomni::test::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(sub(name), std::ios::binary) << bytes;
    return sub(name);
  }
};

TEST_F(ImagePpm, ReadsPixelsPastCommentsAndWhitespace) {
  const std::string pixels("\xff\x00\x00\x00\x00\xff\x0a\x20\x23\x01\x02\x03", 12);
  const Image im = read_image(write("a.ppm", "P6\n# made by hand\n2  2\n#max\n255\n" + pixels));
  ASSERT_EQ(im.width, 2);
  ASSERT_EQ(im.height, 2);
  EXPECT_EQ(std::string(im.rgb.begin(), im.rgb.end()), pixels);
  // The signature decides, not the name.
  EXPECT_TRUE(read_image(write("ppm.png", "P6 2 2 255 " + pixels)) == im);
}

TEST_F(ImagePpm, RejectsOtherPpmsAndTruncation) {
  std::string m = error_message([&] { read_image(write("16bit.ppm", "P6 1 1 65535 \x01\x02")); });
  EXPECT_NE(m.find(sub("16bit.ppm")), std::string::npos) << m;
  EXPECT_NE(m.find("not a binary PPM (P6, maxval 255)"), std::string::npos) << m;
  m = error_message([&] { read_image(write("empty.ppm", "P6 0 3 255 ")); });
  EXPECT_NE(m.find("not a binary PPM"), std::string::npos) << m;
  m = error_message([&] { read_image(write("short.ppm", "P6 2 1 255\n\x01\x02\x03")); });
  EXPECT_NE(m.find(sub("short.ppm")), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

}  // namespace
