// The image-generation loop and the model loading of the X-Omni commands against PyTorch: the
// xomni_tiny fixture (tests/fixtures/golden/make_xomni_fixtures.py) holds 16 greedy image tokens
// (a 4x4 grid) after a prompt ending in the image prefix, computed in f64 from whole sequences.
// Skips while the fixture or the xomni backbone plugin is not there.
#include <gtest/gtest.h>

#include <filesystem>

#include "check.h"
#include "mm_generation.h"
#include "mm_model.h"

using namespace xomni;

namespace {

TEST(GoldenXOmniGenerate, GreedyImageTokensMatchPyTorch) {
  const std::string dir = std::string(XOMNI_FIXTURE_DIR) + "/xomni_tiny";
  if (!std::filesystem::exists(dir + "/config.json") ||
      !std::filesystem::exists(std::string(XOMNI_FIXTURE_DIR) + "/xomni_tiny.xtf"))
    GTEST_SKIP() << "the xomni_tiny fixture is not in " << XOMNI_FIXTURE_DIR;
  cli::MmModel model;
  try {
    model = cli::load_model_folder(dir, "");
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("xomni") != std::string::npos && what.find("plugin") != std::string::npos)
      GTEST_SKIP() << "the xomni backbone plugin is not available: " << what;
    throw;
  }
  ASSERT_EQ(model.backbone, "xomni");  // from config.json's model_type "x-omni"
  EXPECT_EQ(model.vocab.text, 64);
  EXPECT_EQ(model.vocab.image, 40);
  EXPECT_EQ(model.max_positions, 128);
  const test::Fixture fx = test::load_fixture("xomni_tiny");
  const std::vector<int64_t> prompt =
      test::fixture_get(fx, "prompt").to(DType::i64).to_vector<int64_t>();
  std::vector<int64_t> want =
      test::fixture_get(fx, "greedy_image").to(DType::i64).to_vector<int64_t>();
  for (int64_t& id : want) id -= 64;
  cli::ImageSampling greedy;
  greedy.sampling.temperature = 0;
  const Tensor p = Tensor::from_vector(prompt, {1, int64_t(prompt.size())});
  EXPECT_EQ(cli::generate_image_codes(*model.lm, model.vocab, p, {}, 16, greedy, true)
                .to_vector<int64_t>(),
            want);
  EXPECT_EQ(cli::generate_image_codes(*model.lm, model.vocab, p, {}, 16, greedy, false)
                .to_vector<int64_t>(),
            want);
}

}  // namespace
