// train.precision = "bf16": a 200-step tiny LM run with bf16 GEMMs (fp32 accumulation, f32
// weights and optimizer state) tracks the fp32 run's loss within 2% at every step (the two runs
// see the same data and initial weights); the startup line says so. Where bf16 cannot run
// (XOMNI_DISABLE_BF16=1 here) the run warns and is the fp32 run bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "check.h"
#include "lm/lm_stage.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/ops/matmul_precision.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("xomni_lm_bf16_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string make_shards(const fs::path& root) {
  const std::string shards = (root / "shards").string();
  write_token_shards(shards, test::counting_documents(400, 64, 13), 4000, 64);
  return shards;
}

Config job(const fs::path& root, const std::string& shards, const std::string& precision) {
  const std::string text =
      "[run]\nname = \"" + precision + "\"\ndir = \"" + root.string() +
      "\"\nseed = 3\n[model]\nvocab_size = 64\nhidden_size = 64\n"
      "intermediate_size = 128\nnum_hidden_layers = 2\nnum_attention_heads = 4\n"
      "num_key_value_heads = 2\n[data]\ntrain = \"" +
      shards +
      "\"\n[train]\nsteps = 200\nbatch_size = 8\nseq_len = 32\nlog_every = 20\n"
      "precision = \"" +
      precision +
      "\"\n[optimizer]\nlearning_rate = 3e-3\n[schedule]\nkind = \"cosine\"\n"
      "warmup_steps = 20\n";
  return Config::parse(text, "<test job>", train::lm_job_schema());
}
}  // namespace

TEST(LmBf16, TracksTheFp32LossCurveWithin2Percent) {
  if (!bf16_unavailable_reason().empty())
    GTEST_SKIP() << "no bf16 GEMM here: " << bf16_unavailable_reason();
  const fs::path root = fresh_dir("track");
  const std::string shards = make_shards(root);

  train::run_lm_training(job(root, shards, "fp32"));
  testing::internal::CaptureStderr();
  train::run_lm_training(job(root, shards, "bf16"));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(test::contains(err, "matmul precision bf16")) << err;
  EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);  // the run's precision ends with it

  const auto fp32 = test::logged_losses((root / "fp32").string());
  const auto bf16 = test::logged_losses((root / "bf16").string());
  ASSERT_EQ(fp32.size(), 200u);
  ASSERT_EQ(bf16.size(), 200u);
  double worst = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    const double a = std::stod(fp32[i]), b = std::stod(bf16[i]);
    worst = std::max(worst, std::abs(b - a) / a);
    EXPECT_LE(std::abs(b - a), 0.02 * a) << "step " << i + 1 << ": fp32 " << a << ", bf16 " << b;
  }
  // Not the same run twice: rounding the GEMM inputs changed the losses.
  EXPECT_NE(fp32, bf16);
  EXPECT_LT(std::stod(fp32.back()), 0.5 * std::stod(fp32.front()));
  std::printf("largest relative loss difference: %.4f\n", worst);
  fs::remove_all(root);
}

TEST(LmBf16, WhereBf16CannotRunTheRunWarnsAndIsTheFp32RunAndOtherPrecisionsAreRefused) {
  ::setenv("XOMNI_DISABLE_BF16", "1", 1);
  const fs::path root = fresh_dir("fallback");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "fp32"), 6);
  testing::internal::CaptureStderr();
  train::run_lm_training(job(root, shards, "bf16"), 6);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(test::contains(err,
                             "warning: bf16 matmul precision is not available "
                             "(XOMNI_DISABLE_BF16=1 is set); running fp32"))
      << err;
  EXPECT_FALSE(test::contains(err, "matmul precision bf16 (")) << err;
  const auto fp32 = test::logged_losses((root / "fp32").string());
  EXPECT_EQ(fp32.size(), 6u);
  EXPECT_EQ(test::logged_losses((root / "bf16").string()), fp32);
  ::unsetenv("XOMNI_DISABLE_BF16");

  const std::string m =
      test::error_message([&] { train::run_lm_training(job(root, shards, "f16")); });
  EXPECT_TRUE(test::contains(m,
                             "<test job> [train]: precision = \"f16\" is not one of \"fp32\", "
                             "\"bf16\""))
      << m;
  fs::remove_all(root);
}
