// The pipeline timeline picture: a synthetic two-rank JSONL timeline is read back and drawn; the
// PNG has the signature, the size the layout implies, and both box colours; the returned bubble
// is the closed form of the synthetic timeline.
#include <cairo.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "timeline_plot.h"

using namespace xomni;
using namespace xomni::parallel;

class TimelinePlotTest : public test::TempDirTest {};

TEST(TimelineLabels, ChunksShowOnlyUnderInterleaving) {
  const parallel::TimelineEvent plain{0, 0, 3, 'F', 0, 1, 0, 0}, chunk{1, 1, 5, 'B', 0, 1, 0, 1};
  EXPECT_FALSE(cli::has_chunks({plain}));
  EXPECT_TRUE(cli::has_chunks({plain, chunk}));
  EXPECT_EQ(cli::box_label(plain, false), "3");
  EXPECT_EQ(cli::box_label(plain, true), "3/0");
  EXPECT_EQ(cli::box_label(chunk, true), "5/1");
}

TEST_F(TimelinePlotTest, DrawsSyntheticTimeline) {
  const std::string jsonl = dir_ + "/timeline.jsonl", png = dir_ + "/schedule.png";
  {
    // Rank 0 busy 3 of 4 ms, rank 1 busy 2 ms: bubble 1 - 5/8.
    std::ofstream f(jsonl);
    f << R"({"rank":0,"stage":0,"micro":0,"phase":"F","start":0.001,"end":0.002})"
      << "\n"
      << R"({"rank":0,"stage":0,"micro":0,"phase":"B","start":0.003,"end":0.005})"
      << "\n"
      << R"({"rank":1,"stage":1,"micro":0,"phase":"F","start":0.002,"end":0.003})"
      << "\n"
      << R"({"rank":1,"stage":1,"micro":0,"phase":"B","start":0.004,"end":0.005})"
      << "\n";
  }
  const auto events = read_timeline_jsonl(jsonl);
  ASSERT_EQ(events.size(), 4u);
  cli::TimelinePlot opt;
  opt.width = 600;
  opt.row_height = 40;
  const double bubble = cli::plot_timeline_png(events, png, opt);
  EXPECT_NEAR(bubble, 1.0 - 5.0 / 8.0, 1e-9);

  std::ifstream in(png, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  EXPECT_EQ(std::string(sig, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  cairo_surface_t* s = cairo_image_surface_create_from_png(png.c_str());
  ASSERT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(s), 600);
  EXPECT_EQ(cairo_image_surface_get_height(s), 60 + 2 * 40 + 50 + 30);
  // Both colours appear: forward blue (0x4682c8) and backward orange.
  const unsigned char* px = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s), h = cairo_image_surface_get_height(s);
  int blue = 0, orange = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < 600; ++x) {
      const uint32_t v = *reinterpret_cast<const uint32_t*>(px + y * stride + 4 * x) & 0xffffff;
      blue += v == 0x4682c8;
      orange += v == 0xf09632;
    }
  cairo_surface_destroy(s);
  EXPECT_GT(blue, 100);
  EXPECT_GT(orange, 100);
  EXPECT_NE(test::error_message([&] { cli::plot_timeline_png({}, png, opt); }).find("no events"),
            std::string::npos);
}
