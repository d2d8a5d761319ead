// The scene checker against the generator: clean renders pass their own metadata, wrong
// metadata fails, and accuracy on degraded renders stays above the floors measured when this
// was written (docs/PERF.md "Synthetic scenes"). Set XOMNI_REPORT_ERRORS to print the numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "xomni/core/tensor/random.h"
#ifdef XOMNI_SCENE_REWARD
#include <dlfcn.h>

#include "xomni/reward.h"
#endif
#include "xomni/world/scene.h"
#include "xomni/world/scene_checker.h"

namespace xomni::world {
namespace {

constexpr int kScenes = 600;

bool report() {
  return std::getenv("XOMNI_REPORT_ERRORS") != nullptr;
}

// A uniform in [0, 1) from Philox, for the degradations.
double unit(uint64_t seed, uint64_t counter) {
  uint32_t w[4];
  philox4x32(seed, counter, w);
  return double(w[0]) / 4294967296.0;
}

Image box_blur(const Image& im) {  // 3x3 mean, edges clamped
  Image out = im;
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            sum += im.at(std::clamp<int64_t>(x + dx, 0, im.width - 1),
                         std::clamp<int64_t>(y + dy, 0, im.height - 1))[c];
        out.at(x, y)[c] = uint8_t((sum + 4) / 9);
      }
  return out;
}

Image noise(const Image& im, double sigma, uint64_t seed) {  // Box-Muller Gaussian per channel
  Image out = im;
  for (size_t i = 0; i < out.rgb.size(); ++i) {
    const double u1 = 1.0 - unit(seed, 2 * i), u2 = unit(seed, 2 * i + 1);
    const double n = sigma * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    out.rgb[i] = uint8_t(std::clamp(std::lround(out.rgb[i] + n), 0L, 255L));
  }
  return out;
}

// JPEG-like: chroma averaged over 2x2 blocks (4:2:0 subsampling) in YCbCr, then every channel
// quantised to steps of 24.
Image jpeg_like(const Image& im) {
  Image out = im;
  for (int64_t by = 0; by < im.height; by += 2)
    for (int64_t bx = 0; bx < im.width; bx += 2) {
      double cb = 0, cr = 0, ys[4];
      int n = 0;
      for (int k = 0; k < 4; ++k) {
        const int64_t x = std::min(bx + k % 2, im.width - 1),
                      y = std::min(by + k / 2, im.height - 1);
        const uint8_t* p = im.at(x, y);
        ys[k] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        cb += -0.168736 * p[0] - 0.331264 * p[1] + 0.5 * p[2];
        cr += 0.5 * p[0] - 0.418688 * p[1] - 0.081312 * p[2];
        ++n;
      }
      cb /= n, cr /= n;
      for (int k = 0; k < 4; ++k) {
        const int64_t x = bx + k % 2, y = by + k / 2;
        if (x >= im.width || y >= im.height) continue;
        auto q = [](double v) { return std::round(v / 24) * 24; };
        const double yy = q(ys[k]), b = q(cb), r = q(cr);
        const double rgb[3] = {yy + 1.402 * r, yy - 0.344136 * b - 0.714136 * r, yy + 1.772 * b};
        for (int c = 0; c < 3; ++c)
          out.at(x, y)[c] = uint8_t(std::clamp(std::lround(rgb[c]), 0L, 255L));
      }
    }
  return out;
}

Image shift(const Image& im, int dx, int dy) {  // exposed border filled with the background
  Image out = im;
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x) {
      const int64_t sx = x - dx, sy = y - dy;
      uint8_t* q = out.at(x, y);
      if (sx < 0 || sy < 0 || sx >= im.width || sy >= im.height)
        std::copy(kSceneBackground, kSceneBackground + 3, q);
      else
        std::copy(im.at(sx, sy), im.at(sx, sy) + 3, q);
    }
  return out;
}

// The fraction of kScenes scenes (all categories, a third of them textured) whose degraded
// render passes its own metadata.
double accuracy(const std::string& name, const std::function<Image(const Image&, int)>& degrade) {
  int pass = 0;
  std::map<std::string, int> fails;
  for (int i = 0; i < kScenes; ++i) {
    SceneOptions opt;
    opt.textured_background = i % 3 == 0;
    const ImageSample s = generate_scene(7, i, opt);
    const auto r = score_geneval(degrade(s.image, i), s.metadata_json);
    pass += r.pass;
    if (!r.pass) ++fails[parse_scene_metadata(s.metadata_json).category];
    if (!r.pass && std::getenv("XOMNI_SCENE_DEBUG")) {
      std::printf("%s %d: %s  detected:", name.c_str(), i, r.reason.c_str());
      for (const auto& d : r.objects)
        std::printf(" %s %s fill=%.2f area=%ld;", d.color.c_str(), d.shape.c_str(), d.fill,
                    long(d.area));
      std::printf("\n  meta %s\n", s.metadata_json.c_str());
    }
  }
  const double acc = double(pass) / kScenes;
  if (report()) {
    std::printf("[scene checker] %-18s %d/%d = %.4f  fails:", name.c_str(), pass, kScenes, acc);
    for (const auto& [k, v] : fails) std::printf(" %s=%d", k.c_str(), v);
    std::printf("\n");
  }
  return acc;
}

TEST(SceneChecker, CleanScenesPassTheirOwnMetadata) {
  const double acc = accuracy("clean", [](const Image& im, int) { return im; });
  EXPECT_GE(acc, 0.99);
}

TEST(SceneChecker, CleanParseRecoversEveryObjectExactly) {
  int exact = 0;
  for (int i = 0; i < 120; ++i) {
    const ImageSample s = generate_scene(11, i);
    const SceneMetadata m = parse_scene_metadata(s.metadata_json);
    auto det = parse_scene(s.image);
    bool all = det.size() == m.objects.size();
    for (const auto& o : m.objects)
      all = all && std::any_of(det.begin(), det.end(), [&](const DetectedObject& d) {
              return d.shape == o.shape && d.color == o.color && d.box == o.box;
            });
    exact += all;
  }
  EXPECT_GE(exact, 119) << "scenes parsed back exactly (shape, colour, box) out of 120";
}

// Wrong metadata: a count one off, another colour, the opposite relation, an absent shape.
TEST(SceneChecker, WrongMetadataFails) {
  int tried = 0, failed = 0;
  for (int i = 0; i < kScenes; ++i) {
    const ImageSample s = generate_scene(7, i);
    SceneMetadata m = parse_scene_metadata(s.metadata_json);
    if (m.category == "counting") {
      const int64_t n = m.include[0].count + (i % 2 ? 1 : -1);
      if (n < 1) continue;
      m.include[0].count = n, m.exclude[0].count = n + 1;
    } else if (m.category == "colors" || m.category == "color_attr") {
      auto& r = m.include[size_t(i % int(m.include.size()))];
      r.color = scene_palette()[size_t((palette_index(r.color) + 1 + i % 7) % 8)].name;
    } else if (m.category == "position") {
      static const std::map<std::string, std::string> opposite = {
          {"left of", "right of"}, {"right of", "left of"}, {"above", "below"}, {"below", "above"}};
      m.include[1].relation = opposite.at(m.include[1].relation);
    } else {  // single_object, two_object: ask for a shape that is not there
      std::vector<std::string> present;
      for (const auto& o : m.objects) present.push_back(o.shape);
      for (const char* shape : kSceneShapes)
        if (std::find(present.begin(), present.end(), shape) == present.end()) {
          m.include.back().shape = shape;
          break;
        }
    }
    ++tried;
    const auto r = score_geneval(s.image, m);
    failed += !r.pass;
    if (m.category == "counting") {
      EXPECT_FALSE(r.count_ok) << i;
    }
    if (m.category == "colors" || m.category == "color_attr") {
      EXPECT_FALSE(r.color_ok) << i;
    }
    if (m.category == "position") {
      EXPECT_FALSE(r.position_ok) << i;
    }
    if (m.category == "single_object" || m.category == "two_object") {
      EXPECT_FALSE(r.object_found) << i;
    }
  }
  if (report()) std::printf("[scene checker] wrong metadata failed %d/%d\n", failed, tried);
  EXPECT_GT(tried, kScenes * 9 / 10);
  EXPECT_GE(failed, tried * 99 / 100);
}

// Floors: the accuracies measured when this test was written (clean, blur, noise 12, shift: 1.000;
// JPEG-like 0.987; noise sigma 24: 0.722), less ~2 points of slack.
TEST(SceneChecker, BoxBlur) {
  EXPECT_GE(accuracy("box blur 3x3", [](const Image& im, int) { return box_blur(im); }), 0.98);
}
TEST(SceneChecker, GaussianNoise) {
  EXPECT_GE(accuracy("noise sigma 12", [](const Image& im, int i) { return noise(im, 12, i); }),
            0.98);
  EXPECT_GE(accuracy("noise sigma 24", [](const Image& im, int i) { return noise(im, 24, i); }),
            0.70);
}
TEST(SceneChecker, JpegLikeQuantisation) {
  EXPECT_GE(accuracy("jpeg-like", [](const Image& im, int) { return jpeg_like(im); }), 0.96);
}
TEST(SceneChecker, Shift) {
  EXPECT_GE(accuracy("shift 1-2 px",
                     [](const Image& im, int i) {
                       return shift(im, 1 + i % 2, i % 3 == 0 ? -1 : 2 - i % 3);
                     }),
            0.98);
}

TEST(SceneChecker, GenEvalRelations) {
  // Closed-form cases of GenEval's rule: side by side, stacked, diagonal, and overlapping.
  using R = std::vector<std::string>;
  EXPECT_EQ(geneval_relations({0, 0, 10, 10}, {20, 0, 30, 10}), R{"left of"});
  EXPECT_EQ(geneval_relations({20, 0, 30, 10}, {0, 0, 10, 10}), R{"right of"});
  EXPECT_EQ(geneval_relations({0, 0, 10, 10}, {0, 20, 10, 30}), R{"above"});
  EXPECT_EQ(geneval_relations({0, 20, 10, 30}, {0, 0, 10, 10}), R{"below"});
  // Diagonal (20, 20): each revised component is 18/28.3 = 0.64 > 0.5: both relations.
  EXPECT_EQ(geneval_relations({0, 0, 10, 10}, {20, 20, 30, 30}), (R{"left of", "above"}));
  // Offset 1 px with boxes of 10: shrunk to zero, no relation.
  EXPECT_TRUE(geneval_relations({0, 0, 10, 10}, {1, 0, 11, 10}).empty());
}

// The graded score against hand-made detections: 1 for a pass, else 0.9 x the mean share of each
// clause's count, colour and relation met, halved per violated exclude clause.
TEST(GenEvalGraded, SharesOfEachClauseAgainstClosedForms) {
  auto obj = [](const char* shape, const char* color, int64_t x) {
    DetectedObject o;
    o.shape = shape, o.color = color, o.box = {x, 10, x + 8, 18};
    return o;
  };
  SceneMetadata counting;
  counting.include = {{"circle", 3, "", "", -1}};
  counting.exclude = {{"circle", 4, "", "", -1}};
  std::vector<DetectedObject> two = {obj("circle", "red", 0), obj("circle", "red", 20)};
  EXPECT_NEAR(geneval_graded_score(score_geneval(two, counting), counting), 0.9 * 2 / 3, 1e-12);
  two.push_back(obj("circle", "red", 40));
  EXPECT_EQ(geneval_graded_score(score_geneval(two, counting), counting), 1.0);  // passes
  two.push_back(obj("circle", "red", 60));  // 4 circles: the exclude clause is hit
  EXPECT_NEAR(geneval_graded_score(score_geneval(two, counting), counting), 0.9 * 0.5, 1e-12);
  SceneMetadata colour;
  colour.include = {{"square", 1, "red", "", -1}, {"star", 1, "", "", -1}};
  const std::vector<DetectedObject> blue = {obj("square", "blue", 0)};
  // Square found in the wrong colour (1 + 0) / 2, star missing 0: mean 0.25.
  EXPECT_NEAR(geneval_graded_score(score_geneval(blue, colour), colour), 0.9 * 0.25, 1e-12);
  SceneMetadata position;
  position.include = {{"circle", 1, "", "", -1}, {"square", 1, "", "left of", 0}};
  // Square right of the circle: the first clause met, the second's count but not its relation.
  const std::vector<DetectedObject> wrong = {obj("circle", "red", 0), obj("square", "red", 40)};
  EXPECT_NEAR(geneval_graded_score(score_geneval(wrong, position), position), 0.9 * 0.75, 1e-12);
  const std::vector<DetectedObject> right = {obj("circle", "red", 40), obj("square", "red", 0)};
  EXPECT_EQ(geneval_graded_score(score_geneval(right, position), position), 1.0);
  EXPECT_EQ(geneval_graded_score(score_geneval(std::vector<DetectedObject>{}, position), position),
            0.0);
}

// Paints the side x side block at (x0, y0) the palette's first colour when every pixel of it is
// background (nearer the grey than any colour); returns whether it did.
bool paint_background_block(Image& image, int64_t x0, int64_t y0, int64_t side) {
  for (int64_t y = y0; y < y0 + side; ++y)
    for (int64_t x = x0; x < x0 + side; ++x)
      if (nearest_scene_colour(image.at(x, y), 1e9) != -1) return false;
  const PaletteColor& c = scene_palette()[0];
  for (int64_t y = y0; y < y0 + side; ++y)
    for (int64_t x = x0; x < x0 + side; ++x) {
      uint8_t* q = image.at(x, y);
      q[0] = c.r, q[1] = c.g, q[2] = c.b;
    }
  return true;
}

// The clean share against closed forms: 1 for every clean render of its own scene (the parse
// claims every drawn pixel), 1 - P / (W H) once P background pixels are painted a palette colour
// beside the object, and 1 for an empty image.
TEST(GenEvalClean, ExactOnCleanRendersAndOnAPaintedPatch) {
  int exact = 0;
  for (int i = 0; i < 120; ++i) {
    SceneOptions opt;
    opt.textured_background = i % 3 == 0;
    const ImageSample s = generate_scene(13, i, opt);
    const SceneMetadata m = parse_scene_metadata(s.metadata_json);
    exact += geneval_clean_fraction(s.image, score_geneval(s.image, m), m) == 1.0;
  }
  EXPECT_GE(exact, 119) << "clean renders with nothing but the asked-for objects, of 120";

  const ImageSample s = generate_scene(13, 0, "single_object");
  const SceneMetadata m = parse_scene_metadata(s.metadata_json);
  const GenEvalResult before = score_geneval(s.image, m);
  ASSERT_TRUE(before.pass);
  ASSERT_EQ(before.objects.size(), 1u);
  // A 6x6 patch of the palette's first colour in a corner the object does not reach.
  Image painted = s.image;
  const auto& box = m.objects[0].box;
  const int64_t x0 = box[0] >= 8 ? 0 : s.image.width - 6;
  const int64_t y0 = box[1] >= 8 ? 0 : s.image.height - 6;
  ASSERT_TRUE(paint_background_block(painted, x0, y0, 6)) << "the patch must cover background";
  const int64_t painted_pixels = 36;
  const GenEvalResult after = score_geneval(painted, m);
  ASSERT_EQ(after.objects.size(), 2u);  // the patch is an object too, a square
  EXPECT_EQ(geneval_clean_fraction(painted, after, m),
            1.0 - double(painted_pixels) / double(s.image.width * s.image.height));
  Image blank = s.image;
  for (int64_t i = 0; i < blank.width * blank.height; ++i)
    std::copy(kSceneBackground, kSceneBackground + 3, blank.rgb.data() + 3 * i);
  EXPECT_EQ(geneval_clean_fraction(blank, score_geneval(blank, m), m), 1.0);
}

#ifdef XOMNI_SCENE_REWARD
// The `scene` reward plugin through its C ABI: 1 for a scene against its own metadata, 0 with
// the right sub-score cleared against wrong metadata, an error for metadata it cannot read.
TEST(SceneReward, ScoresThroughThePluginAbi) {
  void* lib = dlopen(XOMNI_SCENE_REWARD, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto entry = reinterpret_cast<XomniRewardEntry>(dlsym(lib, XOMNI_REWARD_ENTRY));
  ASSERT_NE(entry, nullptr);
  const XomniRewardPlugin* p = entry();
  ASSERT_EQ(p->abi_version, uint32_t(XOMNI_REWARD_ABI_VERSION));
  EXPECT_STREQ(p->name, "scene");
  ASSERT_EQ(p->num_sub_scores, 5);
  EXPECT_STREQ(p->sub_score_names[4], "clean");
  EXPECT_EQ(p->create("bogus = 1"), nullptr);
  EXPECT_NE(std::string(p->last_error(nullptr)).find("bogus"), std::string::npos);
  void* h = p->create("max_color_distance = 60\n");
  ASSERT_NE(h, nullptr) << p->last_error(nullptr);
  // Samples: counting (right, count+1), position (right, flipped).
  const ImageSample a = generate_scene(21, 2, "counting"), b = generate_scene(21, 4, "position");
  SceneMetadata wa = parse_scene_metadata(a.metadata_json),
                wb = parse_scene_metadata(b.metadata_json);
  wa.include[0].count += 1, wa.exclude[0].count += 1;
  wb.include[1].relation = wb.include[1].relation == "left of"    ? "right of"
                           : wb.include[1].relation == "right of" ? "left of"
                           : wb.include[1].relation == "above"    ? "below"
                                                                  : "above";
  const std::string meta[4] = {a.metadata_json, scene_metadata_to_json(wa), b.metadata_json,
                               scene_metadata_to_json(wb)};
  const Image* ims[4] = {&a.image, &a.image, &b.image, &b.image};
  XomniImage images[4];
  const char* prompts[4];
  const char* metas[4];
  for (int i = 0; i < 4; ++i) {
    images[i] = {ims[i]->rgb.data(), int32_t(ims[i]->width), int32_t(ims[i]->height),
                 3 * ims[i]->width};
    prompts[i] = "";
    metas[i] = meta[i].c_str();
  }
  const XomniRewardBatch batch = {4, images, prompts, metas};
  float scores[4], sub[20];
  ASSERT_EQ(p->score(h, &batch, scores, sub), 0) << p->last_error(h);
  EXPECT_EQ(scores[0], 1.0f);
  EXPECT_EQ(scores[1], 0.0f);
  EXPECT_EQ(scores[2], 1.0f);
  EXPECT_EQ(scores[3], 0.0f);
  for (int k = 0; k < 5; ++k) EXPECT_EQ(sub[k], 1.0f) << k;  // all checks pass, all of it asked
  EXPECT_EQ(sub[5 + 1], 0.0f);                               // count_ok
  EXPECT_EQ(sub[5 + 0], 1.0f);                               // object_found
  EXPECT_EQ(sub[15 + 3], 0.0f);                              // position_ok
  EXPECT_EQ(sub[15 + 0], 1.0f);
  // Wrong counts or relations, but every drawn object is still one the prompt names.
  for (int i = 1; i < 4; ++i) EXPECT_EQ(sub[5 * i + 4], 1.0f) << i;
  const char* bad[1] = {"{}"};
  const XomniRewardBatch bad_batch = {1, images, prompts, bad};
  EXPECT_NE(p->score(h, &bad_batch, scores, sub), 0);
  EXPECT_NE(std::string(p->last_error(h)).find("sample 0"), std::string::npos) << p->last_error(h);
  p->destroy(h);
  // score = partial: a pass stays 1, a failure scores the mean of its four checks.
  EXPECT_EQ(p->create("score = best"), nullptr);
  EXPECT_NE(std::string(p->last_error(nullptr)).find("pass, partial or graded"), std::string::npos);
  void* partial = p->create("score = \"partial\"\n");
  ASSERT_NE(partial, nullptr) << p->last_error(nullptr);
  float pscores[4], psub[20];
  ASSERT_EQ(p->score(partial, &batch, pscores, psub), 0) << p->last_error(partial);
  for (int i = 0; i < 4; ++i) {
    const float mean = (psub[5 * i] + psub[5 * i + 1] + psub[5 * i + 2] + psub[5 * i + 3]) / 4;
    EXPECT_EQ(pscores[i], scores[i] == 1.0f ? 1.0f : mean) << i;
  }
  EXPECT_EQ(pscores[1], 0.75f);  // the wrong count: every other check holds
  p->destroy(partial);
  // score = graded: the checker's graded score, 1 for a pass.
  void* graded = p->create("score = graded");
  ASSERT_NE(graded, nullptr) << p->last_error(nullptr);
  ASSERT_EQ(p->score(graded, &batch, pscores, psub), 0) << p->last_error(graded);
  for (int i = 0; i < 4; ++i) {
    const SceneMetadata m = parse_scene_metadata(meta[i]);
    EXPECT_FLOAT_EQ(pscores[i], float(geneval_graded_score(score_geneval(*ims[i], m), m))) << i;
  }
  EXPECT_EQ(pscores[0], 1.0f);
  EXPECT_GT(pscores[1], 0.0f);
  EXPECT_LT(pscores[1], 0.9f);
  p->destroy(graded);
  // clean_weight: the score times (1 - w) + w * clean, here for scene a with a 6x6 patch of
  // colour painted on its background.
  EXPECT_EQ(p->create("clean_weight = 2"), nullptr);
  EXPECT_NE(std::string(p->last_error(nullptr)).find("[0, 1]"), std::string::npos);
  Image painted = a.image;
  bool done = false;
  for (int64_t y0 = 0; y0 + 6 <= painted.height && !done; y0 += 6)
    for (int64_t x0 = 0; x0 + 6 <= painted.width && !done; x0 += 6)
      done = paint_background_block(painted, x0, y0, 6);
  ASSERT_TRUE(done) << "no 6x6 block of background in scene a";
  const SceneMetadata ma = parse_scene_metadata(a.metadata_json);
  const GenEvalResult rp = score_geneval(painted, ma);
  const double clean = geneval_clean_fraction(painted, rp, ma);
  ASSERT_LT(clean, 1.0);
  XomniImage pimg = {painted.rgb.data(), int32_t(painted.width), int32_t(painted.height),
                     3 * painted.width};
  const char* pmeta[1] = {a.metadata_json.c_str()};
  const XomniRewardBatch pbatch = {1, &pimg, prompts, pmeta};
  void* weighted = p->create("score = graded\nclean_weight = 0.5");
  ASSERT_NE(weighted, nullptr) << p->last_error(nullptr);
  float wscore[1], wsub[5];
  ASSERT_EQ(p->score(weighted, &pbatch, wscore, wsub), 0) << p->last_error(weighted);
  EXPECT_FLOAT_EQ(wscore[0], float(geneval_graded_score(rp, ma) * (0.5 + 0.5 * clean)));
  EXPECT_FLOAT_EQ(wsub[4], float(clean));
  p->destroy(weighted);
  dlclose(lib);
}
#endif

}  // namespace
}  // namespace xomni::world
