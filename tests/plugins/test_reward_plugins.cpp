// Reward plugins through the C++ loader: the example plugin's values against its closed form,
// every failure mode's message (missing file, missing symbol, wrong ABI version, error return,
// exception, NaN/Inf), the batch-size hint, and RewardSet weighting and sub-score names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "check.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/reward_set.h"

namespace xomni::plugins {
namespace {
namespace fs = std::filesystem;

const std::string kTestDir = XOMNI_TEST_PLUGIN_DIR;
const std::string kContrast = std::string(XOMNI_BUILD_PLUGIN_DIR) + "/libxomni_reward_contrast.so";

std::string test_plugin(const std::string& name) {
  return kTestDir + "/libxomni_reward_test_" + name + ".so";
}

// A w x h image, left half black and right half white (w even).
struct HalfImage {
  int w, h;
  std::vector<uint8_t> rgb;
  HalfImage(int w_, int h_) : w(w_), h(h_), rgb(size_t(w_) * h_ * 3, 0) {
    for (int y = 0; y < h; ++y)
      for (int x = w / 2; x < w; ++x)
        for (int c = 0; c < 3; ++c) rgb[(size_t(y) * w + x) * 3 + c] = 255;
  }
  XomniImage view() const { return {rgb.data(), w, h, int64_t(w) * 3}; }
};

using xomni::test::contains;

TEST(RewardPlugin, ContrastByPathMatchesClosedForm) {
  const auto plugin = RewardPlugin::load(kContrast);
  EXPECT_EQ(plugin->name(), "contrast");
  EXPECT_EQ(plugin->version(), "1.0.0");
  EXPECT_EQ(plugin->sub_score_names(),
            (std::vector<std::string>{"mean_luminance", "rms_contrast"}));
  EXPECT_TRUE(plugin->thread_safe());
  const Reward reward(plugin, "scale = 3");
  // Luminance 0 on half the pixels and 1 on the other half: mean 0.5, standard deviation 0.5.
  // A 2x1 red|blue image: Y = 0.299 and 0.114, mean 0.2065, deviation 0.0925.
  const HalfImage half(8, 4);
  const std::vector<uint8_t> rb = {255, 0, 0, 0, 0, 255};
  const std::vector<XomniImage> images = {half.view(), {rb.data(), 2, 1, 6}};
  const RewardScores s = reward.score(images, {"a", "b"}, {});
  ASSERT_EQ(s.scores.size(), 2u);
  EXPECT_NEAR(s.scores[0], 1.5, 1e-6);
  EXPECT_NEAR(s.sub_scores[0], 0.5, 1e-6);
  EXPECT_NEAR(s.sub_scores[1], 0.5, 1e-6);
  EXPECT_NEAR(s.scores[1], 3 * 0.0925, 1e-6);
  EXPECT_NEAR(s.sub_scores[2], 0.2065, 1e-6);
  EXPECT_NEAR(s.sub_scores[3], 0.0925, 1e-6);
}

TEST(RewardPlugin, FindsBuiltInByName) {
  EXPECT_EQ(RewardPlugin::load("contrast")->path(), kContrast);
}

TEST(RewardPlugin, MissingFileSaysWhereItLooked) {
  const std::string by_path =
      test::error_message([] { RewardPlugin::load("/no/such/libxomni_reward_x.so"); });
  EXPECT_TRUE(contains(by_path, "/no/such/libxomni_reward_x.so does not exist")) << by_path;
  const std::string by_name = test::error_message([] { RewardPlugin::load("nosuch"); });
  EXPECT_TRUE(contains(by_name, "no reward plugin named 'nosuch'")) << by_name;
  EXPECT_TRUE(contains(by_name, "libxomni_reward_nosuch.so")) << by_name;
  EXPECT_TRUE(contains(by_name, "XOMNI_PLUGIN_PATH")) << by_name;
}

TEST(RewardPlugin, MissingSymbolIsNamed) {
  const std::string m = test::error_message([] { RewardPlugin::load(test_plugin("no_entry")); });
  EXPECT_TRUE(contains(m, test_plugin("no_entry"))) << m;
  EXPECT_TRUE(contains(m, "does not export xomni_reward_plugin")) << m;
  EXPECT_TRUE(contains(m, "extern \"C\"")) << m;
}

TEST(RewardPlugin, WrongAbiVersionSaysRebuild) {
  const std::string m = test::error_message([] { RewardPlugin::load(test_plugin("bad_abi")); });
  EXPECT_TRUE(contains(m, test_plugin("bad_abi"))) << m;
  EXPECT_TRUE(
      contains(m, "built for reward ABI version " + std::to_string(XOMNI_REWARD_ABI_VERSION + 998) +
                      " but this xomni uses version " + std::to_string(XOMNI_REWARD_ABI_VERSION)))
      << m;
  EXPECT_TRUE(contains(m, "rebuild the plugin")) << m;
}

// The faulty plugin (batch-size hint 2) scored on 3 samples with `mode`; the error message.
std::string faulty_error(const std::string& mode) {
  return test::error_message([&] {
    const Reward r(RewardPlugin::load(test_plugin("faulty")), "mode = " + mode);
    const HalfImage im(2, 2);
    r.score({im.view(), im.view(), im.view()}, {"p0", "p1", "p2"}, {});
  });
}

TEST(RewardPlugin, FailuresInsideThePluginNameItAndTheFile) {
  const std::string label = "reward plugin 'faulty' (" + test_plugin("faulty") + ")";
  const std::string error = faulty_error("error");
  EXPECT_EQ(error, label + " failed to score samples 0..1: faulty: asked to fail");
  const std::string thrown = faulty_error("throw");
  EXPECT_TRUE(contains(thrown, label + " threw an exception in score(): boom")) << thrown;
  const std::string nan = faulty_error("nan");
  EXPECT_TRUE(
      contains(nan, label + " returned a non-finite score (nan) for sample 1 (prompt: 'p1')"))
      << nan;
  const std::string inf = faulty_error("inf");
  EXPECT_TRUE(contains(inf, label + " returned a non-finite sub-score 'index' (inf) for sample 1"))
      << inf;
  const std::string create = faulty_error("create_fail");
  EXPECT_EQ(create, label +
                        " could not be created: faulty: told to fail in create; check its config "
                        "in the job file");
  const std::string create_throw = faulty_error("create_throw");
  EXPECT_TRUE(contains(create_throw, label + " threw an exception in create(): create went wrong"))
      << create_throw;
}

TEST(RewardPlugin, BatchSizeHintSplitsBatches) {
  const Reward r(RewardPlugin::load(test_plugin("faulty")), "mode = ok");
  EXPECT_EQ(r.plugin().batch_size_hint(), 2);
  const HalfImage im(2, 2);
  const std::vector<XomniImage> images(5, im.view());
  const RewardScores s = r.score(images, std::vector<std::string>(5, "p"), {});
  EXPECT_EQ(s.scores, (std::vector<float>{2, 2, 2, 2, 1}));
  EXPECT_EQ(s.sub_scores, (std::vector<float>{0, 1, 0, 1, 0}));
}

TEST(RewardSet, WeightedSumAndEverySubScore) {
  const std::string toml =
      "[[rewards]]\nplugin = \"" + kContrast +
      "\"\nweight = 0.5\n\n[[rewards]]\nplugin = \"contrast\"\nlabel = \"c2\"\n"
      "weight = 2\n[rewards.config]\nscale = 3\n";
  const std::vector<RewardSpec> specs = RewardSet::parse(toml, "<test>");
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].label, "contrast");
  EXPECT_EQ(specs[1].config, "scale = 3");
  const RewardSet set(specs);
  const HalfImage im(4, 2);
  const RewardScores s = set.score({im.view()}, {"x"}, {});
  EXPECT_EQ(s.sub_score_names, (std::vector<std::string>{"contrast", "contrast.mean_luminance",
                                                         "contrast.rms_contrast", "c2",
                                                         "c2.mean_luminance", "c2.rms_contrast"}));
  // 0.5 * 0.5 + 2 * (3 * 0.5)
  EXPECT_NEAR(s.scores[0], 3.25, 1e-6);
  const std::vector<float> expected = {0.5f, 0.5f, 0.5f, 1.5f, 0.5f, 0.5f};
  for (size_t k = 0; k < expected.size(); ++k) EXPECT_NEAR(s.sub_scores[k], expected[k], 1e-6) << k;
}

TEST(RewardSet, TasksRouteEachSampleToItsRewards) {
  // contrast on scenes only (weight 0.5), c2 = 3 x contrast on text only (weight 2).
  const std::string toml =
      "[[rewards]]\nplugin = \"contrast\"\nweight = 0.5\ntasks = [\"scene\"]\n"
      "[[rewards]]\nplugin = \"contrast\"\nlabel = \"c2\"\nweight = 2\n"
      "config = \"scale = 3\"\ntasks = [\"text\"]\n";
  const std::vector<RewardSpec> specs = RewardSet::parse(toml, "<test>");
  EXPECT_EQ(specs[0].tasks, std::vector<std::string>{"scene"});
  const RewardSet set(specs);
  EXPECT_TRUE(set.applies(0, "scene") && !set.applies(0, "text") && set.applies(0, ""));
  const HalfImage im(4, 2);  // contrast 0.5
  const RewardScores s =
      set.score({im.view(), im.view(), im.view()}, {"a", "b", "c"}, {}, {"scene", "text", "scene"});
  EXPECT_EQ(s.scores, (std::vector<float>{0.25f, 3.0f, 0.25f}));  // 0.5 x 0.5; 2 x 1.5
  const size_t k = s.sub_score_names.size();
  ASSERT_EQ(k, 6u);
  for (size_t i = 0; i < 3; ++i) {
    const bool text = i == 1;
    for (size_t j = 0; j < k; ++j)  // a reward's columns are NaN where it does not apply
      EXPECT_EQ(std::isnan(s.sub_scores[i * k + j]), text == (j < 3)) << i << " " << j;
  }
  EXPECT_FLOAT_EQ(s.sub_scores[1 * k + 3], 1.5f);  // c2 on the text sample
  // No tasks given: every reward scores every sample, as before tasks existed.
  EXPECT_FLOAT_EQ(set.score({im.view()}, {"a"}, {}).scores[0], 3.25f);
  // A task no reward scores is refused before any plugin runs.
  const std::string none = test::error_message([&] {
    set.score({im.view(), im.view()}, {"a", "b"}, {}, {"scene", "vqa"});
  });
  EXPECT_TRUE(contains(none, "sample 1 is a 'vqa' prompt, and no reward of the set scores"))
      << none;
  for (const char* bad : {"tasks = []", "tasks = \"text\"", "tasks = [1]", "tasks = [\"\"]"}) {
    const std::string e = test::error_message([&] {
      RewardSet::parse(std::string("[[rewards]]\nplugin = \"ocr\"\n") + bad + "\n", "job.toml");
    });
    EXPECT_TRUE(contains(e, "job.toml:3:")) << bad << ": " << e;
  }
}

TEST(RewardSet, DotSlashAndBareFileNamesAreTakenFromTheJobFilesFolder) {
  // The working directory (the test's build folder) has no red.so; the job file's folder has.
  const fs::path dir =
      fs::temp_directory_path() / ("xomni_reward_paths_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kContrast, dir / "red.so", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "rewards.toml") << "[[rewards]]\nplugin = \"./red.so\"\nlabel = \"a\"\n"
                                         "[[rewards]]\nplugin = \"red.so\"\nlabel = \"b\"\n";
  const RewardSet set = RewardSet::load((dir / "rewards.toml").string());
  const HalfImage im(4, 2);
  // Two contrast rewards of scale 1 on a half-black image: 0.5 each.
  EXPECT_NEAR(set.score({im.view()}, {"x"}, {}).scores[0], 1.0, 1e-6);
  fs::remove_all(dir);
}

TEST(RewardPlugin, ABareFileNameIsTheFileInTheWorkingDirectory) {
  // The loader must open the red.so it checked, relative job files included. (dlopen("red.so")
  // searches the library folders, not the working directory; in this build tree the libraries'
  // RUNPATH ends in an empty entry, which stands for the working directory and hides that, so
  // tests/rewards/out_of_tree.sh checks the same against the installed tree.)
  const fs::path dir =
      fs::temp_directory_path() / ("xomni_reward_cwd_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kContrast, dir / "red.so", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "rewards.toml") << "[[rewards]]\nplugin = \"red.so\"\n";
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir);
  std::string name, missing;
  double score = 0;
  try {
    name = RewardPlugin::load("red.so")->name();
    const HalfImage im(4, 2);
    score = RewardSet::load("rewards.toml").score({im.view()}, {"x"}, {}).scores[0];
    missing = test::error_message([] { RewardPlugin::load("blue.so"); });
  } catch (const std::exception& e) {
    name = e.what();
  }
  fs::current_path(old_cwd);
  fs::remove_all(dir);
  EXPECT_EQ(name, "contrast");
  EXPECT_NEAR(score, 0.5, 1e-6);
  EXPECT_TRUE(contains(
      missing, "plugin library blue.so (" + (dir / "blue.so").string() + ") does not exist"))
      << missing;
}

TEST(RewardSet, JobFileErrorsNameThePlace) {
  const std::string unknown = test::error_message(
      [] { RewardSet::parse("[[rewards]]\nplugin = \"ocr\"\nwieght = 1\n", "job.toml"); });
  EXPECT_TRUE(contains(unknown, "job.toml:3:10: unknown key 'wieght'")) << unknown;
  const std::string dup = test::error_message([] {
    RewardSet::parse("[[rewards]]\nplugin = \"ocr\"\n[[rewards]]\nplugin = \"ocr\"\n", "job.toml");
  });
  EXPECT_TRUE(contains(dup, "two rewards are labelled 'ocr'")) << dup;
  const std::string none = test::error_message([] { RewardSet::parse("x = 1\n", "job.toml"); });
  EXPECT_TRUE(contains(none, "job.toml: no [[rewards]] entries")) << none;
}

}  // namespace
}  // namespace xomni::plugins
