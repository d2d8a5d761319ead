// What the codes carry (jobs/codec/code_information.h): patch labels of a drawn scene, and the
// entropies and probe accuracies of a small tally against their closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "codec/code_information.h"
#include "xomni/core/tensor/error.h"

using namespace xomni;
using codec::CodeLabelTally;
using codec::PatchLabels;

namespace {

// A 24x8 grey image of three 8x8 patches: patch 0 background, patch 1 a full red square, patch 2
// an eighth blue (too little to be an object patch).
Image three_patches() {
  Image im(24, 8, world::kSceneBackground[0], world::kSceneBackground[1],
           world::kSceneBackground[2]);
  const auto& red = world::scene_palette()[size_t(world::palette_index("red"))];
  const auto& blue = world::scene_palette()[size_t(world::palette_index("blue"))];
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 8; x < 16; ++x)
      *im.at(x, y) = red.r, im.at(x, y)[1] = red.g, im.at(x, y)[2] = red.b;
  for (int64_t x = 16; x < 24; ++x)
    *im.at(x, 0) = blue.r, im.at(x, 0)[1] = blue.g, im.at(x, 0)[2] = blue.b;
  return im;
}

}  // namespace

TEST(CodeInformation, LabelsPatchesFromPixelsAndMetadata) {
  world::SceneMetadata m;
  m.objects.push_back({"square", "red", {8, 0, 16, 8}});
  m.objects.push_back({"star", "blue", {16, 0, 24, 1}});
  const std::vector<PatchLabels> l = codec::label_scene_patches(three_patches(), m, 8);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].object, 0);
  EXPECT_EQ(l[0].colour, -1);
  EXPECT_EQ(l[1].object, 1);
  EXPECT_EQ(l[1].colour, world::palette_index("red"));
  EXPECT_EQ(l[1].shape, world::shape_index("square"));
  EXPECT_EQ(l[2].object, 0);  // 8 of 64 pixels
  // A red patch whose colour no metadata object has keeps its colour and has no shape.
  m.objects[0].color = "green";
  EXPECT_EQ(codec::label_scene_patches(three_patches(), m, 8)[1].shape, -1);
  EXPECT_THROW(codec::label_scene_patches(three_patches(), m, 5), Error);
}

TEST(CodeInformation, TallyMatchesClosedForms) {
  CodeLabelTally t;
  // Fit half: code 0 -> label 0 three times and label 1 once; code 1 -> label 1 once.
  for (int i = 0; i < 3; ++i) t.add(0, 0, true);
  t.add(0, 1, true);
  t.add(1, 1, true);
  // Probe half: code 0 -> labels 0 and 1; code 1 -> label 1; code 2 (unseen) -> label 0.
  t.add(0, 0, false);
  t.add(0, 1, false);
  t.add(1, 1, false);
  t.add(2, 0, false);
  const auto s = t.summary();
  EXPECT_EQ(s["patches"].get<int64_t>(), 9);
  EXPECT_EQ(s["codes"].get<int64_t>(), 3);
  auto h2 = [](double p) { return -(p * std::log2(p) + (1 - p) * std::log2(1 - p)); };
  // Labels 5:4 overall; code 0 holds 6 patches split 4:2, codes 1 and 2 are pure.
  EXPECT_NEAR(s["entropy_bits"].get<double>(), h2(5.0 / 9.0), 1e-12);
  EXPECT_NEAR(s["conditional_entropy_bits"].get<double>(), 6.0 / 9.0 * h2(4.0 / 6.0), 1e-12);
  // Codes guess 0, 1 and (unseen: the fit half's majority) 0: right on 3 of 4 probe patches;
  // always guessing label 0 is right on 2.
  EXPECT_DOUBLE_EQ(s["probe_accuracy"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(s["majority_accuracy"].get<double>(), 0.5);
}

TEST(CodeInformation, CodesEqualToLabelsCarryEverything) {
  codec::CodeInformation info;
  std::vector<PatchLabels> labels = {{0, -1, -1}, {1, 2, 3}, {1, 5, 0}};
  for (int i = 0; i < 4; ++i) info.add_image({7, 8, 9}, labels, i % 2 == 0);
  const auto s = info.summary();
  for (const char* a : {"object", "colour", "shape"}) {
    EXPECT_DOUBLE_EQ(s[a]["conditional_entropy_bits"].get<double>(), 0.0) << a;
    EXPECT_DOUBLE_EQ(s[a]["probe_accuracy"].get<double>(), 1.0) << a;
  }
  EXPECT_NEAR(s["object"]["entropy_bits"].get<double>(),
              -(std::log2(1.0 / 3) / 3 + 2.0 / 3 * std::log2(2.0 / 3)), 1e-12);
  EXPECT_EQ(s["colour"]["patches"].get<int64_t>(), 8);
  EXPECT_THROW(info.add_image({1, 2}, labels, true), Error);
}

// Background patches are tallied by their raster position: two places sharing a code leave one bit
// there; held out, that code guesses the first of them.
TEST(CodeInformation, BackgroundPositionFromTheCode) {
  codec::CodeInformation info;
  const std::vector<PatchLabels> background(4, PatchLabels{});
  for (int i = 0; i < 4; ++i) info.add_image({1, 1, 2, 3}, background, i % 2 == 0);
  const auto s = info.summary()["background_position"];
  EXPECT_DOUBLE_EQ(s["entropy_bits"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(s["conditional_entropy_bits"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(s["probe_accuracy"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(s["majority_accuracy"].get<double>(), 0.25);
  EXPECT_EQ(s["codes"].get<int64_t>(), 3);
  EXPECT_EQ(info.summary()["object"]["patches"].get<int64_t>(), 16);
}
