// The realism reward end to end at toy sizes: the scorer's loss against closed forms and finite
// differences, the corruptions of token grids, the stage learning a separable toy problem (smooth
// images are real, pixel noise is corrupted) and resuming exactly, and the reward plugin scoring
// with a checkpoint the stage wrote: sigmoid of the logit a model built here from the same
// tensors gives.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "check.h"
#include "realism/corruption.h"
#include "realism/realism_job.h"
#include "realism/realism_model.h"
#include "realism/realism_stage.h"
#include "realism_toy_jobs.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/plugins/reward_plugin.h"

using namespace xomni;
using namespace xomni::realism;
using namespace xomni::test;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("xomni_realism_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

RealismJob parse(const std::string& text) {
  return parse_realism_job(parse_realism_config(text, "<test job>"));
}

std::string newest_checkpoint(const fs::path& run) {
  std::string best;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    if (e.path().extension() == ".h5" && e.path().string() > best) best = e.path().string();
  return best;
}

double log1pexp(double z) {  // log(1 + e^z), exactly in double
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

}  // namespace

TEST(RealismLoss, MatchesTheClosedFormAndItsGradient) {
  // Logits of every size (a naive log(sigmoid) would give inf at +-80) and soft labels.
  const std::vector<double> z = {-80.0, -3.5, -0.25, 0.0, 0.7, 4.0, 80.0};
  const std::vector<double> y = {1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0};
  Tensor logits = Tensor::from_vector(z, {7});
  logits.set_requires_grad();
  const Tensor loss = binary_cross_entropy_with_logits(logits, Tensor::from_vector(y, {7}));
  double expect = 0;
  for (size_t i = 0; i < z.size(); ++i)
    expect += y[i] * log1pexp(-z[i]) + (1 - y[i]) * log1pexp(z[i]);
  expect /= double(z.size());
  EXPECT_NEAR(loss.item(), expect, 1e-12 * std::fabs(expect));
  loss.backward();
  // d/dz_i = (sigmoid(z_i) - y_i) / B
  const std::vector<double> g = logits.grad().to_vector<double>();
  for (size_t i = 0; i < z.size(); ++i)
    EXPECT_NEAR(g[i], (1.0 / (1.0 + std::exp(-z[i])) - y[i]) / 7.0, 1e-15) << "logit " << z[i];
  // Finite differences through the whole scorer (f64 inputs, random labels).
  const Tensor labels = Tensor::from_vector(std::vector<double>{1, 0, 1}, {3});
  EXPECT_LT(gradcheck(
                [&](const std::vector<Tensor>& in) {
                  return binary_cross_entropy_with_logits(mul(in[0], 3.0), labels);
                },
                {uniform_leaf({3}, 11)}),
            1e-6);
}

TEST(RealismModel, GradientsMatchClosedFormAndFiniteDifferences) {
  RealismModelOptions o;
  o.image_size = 8, o.channels = 4, o.levels = 2, o.groups = 2;
  Generator gen(5);
  RealismModel model(o, gen);
  const Tensor images = uniform({3, 3, 8, 8}, 4, DType::f32, 0.0, 1.0);
  const Tensor labels = Tensor::from_vector(std::vector<float>{1, 0, 1}, {3});
  const auto loss_now = [&] { return binary_cross_entropy_with_logits(model(images), labels); };
  const Tensor loss = loss_now();
  loss.backward();
  // The head's bias adds to every logit: its gradient is mean(sigmoid(z) - y).
  const std::vector<float> z = model(images).to_vector<float>();
  double expect = 0;
  for (size_t i = 0; i < 3; ++i) expect += (1.0 / (1.0 + std::exp(-z[i])) - (i == 1 ? 0 : 1)) / 3;
  EXPECT_NEAR(model.parameter("head.bias").grad().item(), expect, 1e-6);
  // Every parameter at once: the loss's change along a random direction d against grad . d
  // (central differences in f32, so a loose tolerance).
  NoGradGuard no_grad;
  double along = 0;
  std::vector<Tensor> dirs;
  const std::vector<nn::ParamInfo> params = model.parameter_infos();
  for (size_t k = 0; k < params.size(); ++k) {
    dirs.push_back(uniform(params[k].tensor.shape(), 100 + k, DType::f32));
    along += sum(mul(params[k].tensor.grad(), dirs.back())).item();
  }
  const double eps = 1e-2;
  const auto shifted = [&](double t) {
    for (size_t k = 0; k < params.size(); ++k)
      Tensor(params[k].tensor).copy_(add(params[k].tensor, mul(dirs[k], t)));
    const double v = loss_now().item();
    for (size_t k = 0; k < params.size(); ++k)
      Tensor(params[k].tensor).copy_(sub(params[k].tensor, mul(dirs[k], t)));
    return v;
  };
  const double fd = (shifted(eps) - shifted(-eps)) / (2 * eps);
  EXPECT_NEAR(fd, along, 2e-2 * std::fabs(along) + 1e-4);
  EXPECT_THROW(model(Tensor::zeros({1, 3, 16, 16})), Error);
}

TEST(RealismCorruption, IsSeededDamagesTheGridAndStaysInTheCodebook) {
  const int64_t h = 4, w = 6, K = 50;
  std::vector<int64_t> ids(size_t(h * w));
  for (int64_t i = 0; i < h * w; ++i) ids[size_t(i)] = i;  // all distinct
  std::set<std::string> kinds;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const CorruptedCodes a = corrupt_codes(ids, h, w, K, seed);
    const CorruptedCodes b = corrupt_codes(ids, h, w, K, seed);
    EXPECT_EQ(a.ids, b.ids);
    EXPECT_EQ(a.description, b.description);
    ASSERT_EQ(a.ids.size(), ids.size());
    for (int64_t v : a.ids) EXPECT_TRUE(v >= 0 && v < K);
    int64_t changed = 0;
    for (size_t i = 0; i < ids.size(); ++i) changed += a.ids[i] != ids[i];
    const std::string kind = a.description.substr(0, a.description.find(' '));
    kinds.insert(kind);
    if (kind == "shuffle") {  // a permutation of the codes that moves some
      std::vector<int64_t> sorted = a.ids;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(sorted, ids) << a.description;
      EXPECT_GT(changed, 0) << a.description;
    } else if (kind == "repeat") {  // at least half of each side: >= 2 x 3 equal codes
      EXPECT_GE(changed, 2 * 3 - 1) << a.description;
    } else {  // replace: at least a quarter of 24 positions drawn anew (a few may redraw the same)
      EXPECT_EQ(kind, "replace");
      EXPECT_GE(changed, 3) << a.description;
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"replace", "repeat", "shuffle"}));
  EXPECT_THROW(corrupt_codes(ids, 5, 5, K, 0), Error);
}

class RealismStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fresh_dir("stage"));
    train_ = new std::string(toy_dataset(*root_, "train", 1, 96));
    valid_ = new std::string(toy_dataset(*root_, "valid", 2, 32));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_, delete train_, delete valid_;
  }
  static fs::path* root_;
  static std::string *train_, *valid_;
};
fs::path* RealismStage::root_ = nullptr;
std::string* RealismStage::train_ = nullptr;
std::string* RealismStage::valid_ = nullptr;

TEST_F(RealismStage, LearnsAToyProblemResumesExactlyAndThePluginScoresAsTheModel) {
  const int steps = 200;
  const RealismJob straight = parse(toy_job(*root_, "straight", steps, *train_, *valid_));
  const train::TrainResult r = run_realism_training(straight);
  EXPECT_EQ(r.steps_done, steps);
  EXPECT_LT(r.last_eval_loss, 0.3);
  {  // the last evaluation's held-out accuracy, in the metrics
    std::ifstream in(*root_ / "straight" / "metrics.jsonl");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex("\"heldout_accuracy\": ([0-9.e-]+)")))
        << text;
    EXPECT_GE(std::stod(m[1]), 0.95) << text;
  }
  const RealismJob split = parse(toy_job(*root_, "split", steps, *train_, *valid_));
  EXPECT_EQ(run_realism_training(split, steps / 2).steps_done, steps / 2);
  EXPECT_EQ(run_realism_training(split).steps_done, steps);
  const std::vector<std::string> a = logged_losses((*root_ / "straight").string()),
                                 b = logged_losses((*root_ / "split").string());
  ASSERT_EQ(a.size(), size_t(steps));
  EXPECT_EQ(a, b);
  {  // data.hflip mirrors some training images: without it the first steps' losses differ
    const std::string plain =
        std::regex_replace(toy_job(*root_, "plain", 3, *train_, *valid_),
                           std::regex("prefetch = 1"), "prefetch = 1\nhflip = false");
    EXPECT_EQ(run_realism_training(parse(plain)).steps_done, 3);
    const std::vector<std::string> c = logged_losses((*root_ / "plain").string());
    ASSERT_EQ(c.size(), 3u);
    EXPECT_NE(c, std::vector<std::string>(a.begin(), a.begin() + 3));
  }

  // The plugin on the trained checkpoint, against a model built here from its tensors.
  const std::string ckpt = newest_checkpoint(*root_ / "straight");
  Generator gen(99);
  RealismModel direct(straight.model, gen);
  {
    CheckpointReader reader(ckpt);
    NoGradGuard no_grad;
    for (const nn::ParamInfo& p : direct.parameter_infos())
      Tensor(p.tensor).copy_(reader.read_tensor("model/scorer." + p.name));
  }
  std::vector<Image> images;
  for (int64_t i = 0; i < 6; ++i) images.push_back(toy_image(i % 2 == 0, 77, i));
  images.push_back(Image(20, 9, 200, 30, 30));  // another size: resized to 8x8 as in training
  const std::vector<float> logits =
      direct(realism_batch(images, straight.model.image_size)).to_vector<float>();
  std::vector<XomniImage> views;
  for (const Image& im : images)
    views.push_back({im.rgb.data(), int32_t(im.width), int32_t(im.height), 3 * im.width});
  const auto plugin = plugins::RewardPlugin::load(std::string(XOMNI_BUILD_PLUGIN_DIR) +
                                                  "/libxomni_reward_realism.so");
  EXPECT_EQ(plugin->sub_score_names(), std::vector<std::string>{"logit"});
  // batch = 4: two forward passes over the 7 images.
  plugins::Reward reward(plugin, "checkpoint = \"" + ckpt + "\"\nbatch = 4\n");
  const plugins::RewardScores s = reward.score(views, std::vector<std::string>(7), {});
  ASSERT_EQ(s.scores.size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_NEAR(s.sub_scores[i], logits[i], 1e-5) << i;
    EXPECT_NEAR(s.scores[i], 1.0 / (1.0 + std::exp(-double(logits[i]))), 1e-6) << i;
    if (i < 6) {
      EXPECT_EQ(s.scores[i] > 0.5f, i % 2 == 0) << "toy image " << i;
    }
  }
}

TEST_F(RealismStage, BadJobsAndConfigsAreRefusedWithWhatIsWrong) {
  const auto job_error = [&](const std::string& text) {
    return error_message([&] { run_realism_training(parse(text), 1); });
  };
  std::string odd = toy_job(*root_, "x", 2, *train_, *valid_);
  odd = std::regex_replace(odd, std::regex("image_size = 8"), "image_size = 10");
  EXPECT_TRUE(contains(job_error(odd), "model.image_size = 10 is not divisible by 2^model.levels"))
      << job_error(odd);
  EXPECT_TRUE(contains(job_error(toy_job(*root_, "x", 2, "", *valid_)), "data.train is not set"));
  {  // a dataset whose kinds carry no label
    const std::string dir = (*root_ / "unlabelled").string();
    ImageShardWriter w(dir, 8);
    ImageSample s;
    s.image = toy_image(true, 1, 0);
    s.kind = "scene";
    for (int i = 0; i < 8; ++i) w.add(s);
    w.finish();
    EXPECT_TRUE(contains(job_error(toy_job(*root_, "y", 2, dir, "")),
                         "sample kind \"scene\" has no realism label"))
        << job_error(toy_job(*root_, "y", 2, dir, ""));
  }

  const auto plugin = plugins::RewardPlugin::load(std::string(XOMNI_BUILD_PLUGIN_DIR) +
                                                  "/libxomni_reward_realism.so");
  const auto create_error = [&](const std::string& config) {
    return error_message([&] { plugins::Reward r(plugin, config); });
  };
  EXPECT_TRUE(contains(create_error(""), "the config sets no checkpoint")) << create_error("");
  EXPECT_TRUE(contains(create_error("checkpoint = /no/such.h5"), "/no/such.h5"))
      << create_error("checkpoint = /no/such.h5");
  EXPECT_TRUE(contains(create_error("checkpont = x.h5"), "cannot read config line 'checkpont"))
      << create_error("checkpont = x.h5");
  EXPECT_TRUE(contains(create_error("checkpoint = a.h5\nbatch = 0"), "batch = <positive integer>"));
}
