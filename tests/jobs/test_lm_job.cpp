// The LM job file: the shared trainer sections, the backbone plugin's [model] fields, and their
// parsing into the options the trainer takes.
#include <gtest/gtest.h>

#include "check.h"
#include "lm/lm_job.h"
#include "xomni/core/nn/lr_schedule.h"

using namespace xomni;

namespace {

using xomni::test::contains;

TEST(LmJob, SchemaFeedsOptimizerAndSchedule) {
  Config c = Config::parse(
      "[model]\nvocab_size = 256\n[train]\nsteps = 1000\n[schedule]\nkind = \"wsd\"\n"
      "warmup_steps = 50\n",
      "jobs/tiny/lm.toml", train::lm_job_schema(), {"optimizer.learning_rate=1e-3"});
  const train::LmJob job = train::parse_lm_job(c);
  const AdamWOptions& o = job.trainer.optimizer.adamw;
  EXPECT_EQ(o.lr, 1e-3);
  EXPECT_EQ(o.beta2, 0.95);
  EXPECT_EQ(o.no_decay, (std::vector<std::string>{"*.bias", "*norm*"}));
  const LrScheduleOptions& s = job.trainer.schedule;
  EXPECT_EQ(s.decay, LrDecay::wsd);
  EXPECT_EQ(s.total_steps, 1000);
  EXPECT_EQ(s.warmup_steps, 50);
  EXPECT_NEAR(LrSchedule(s).lr_at(999), 1e-3 / 100, 1e-18);
  Config bad = Config::parse("[model]\nvocab_size = 2\n[train]\nsteps = 3\n", "j.toml",
                             train::lm_job_schema(), {"schedule.kind=cosin"});
  EXPECT_TRUE(contains(test::error_message([&] { train::parse_lm_job(bad); }), "'cosin'"));
}

// The [model] fields are the backbone plugin's: the plugin's defaults fill them, a misspelt one
// gets a suggestion from them, and the settings reach the plugin under their own names.
TEST(LmJob, BackboneFieldsComeFromThePlugin) {
  const train::LmJob job = train::parse_lm_job(train::parse_lm_config(
      "[model]\nvocab_size = 96\nhidden_size = 32\n[train]\nsteps = 1\n", "<job>"));
  EXPECT_EQ(job.model.backbone, "qwen2");
  EXPECT_EQ(job.model.dims.vocab_size, 96);
  EXPECT_EQ(job.model.dims.num_hidden_layers, 2);  // the plugin's default
  EXPECT_EQ(job.model.dims.num_key_value_heads, 2);
  EXPECT_TRUE(contains(job.model.settings_json, "\"hidden_size\":32"));
  EXPECT_FALSE(contains(job.model.settings_json, "backbone"));
  const std::string typo = test::error_message([] {
    train::parse_lm_config("[model]\nvocab_size = 96\nhiden_size = 32\n[train]\nsteps = 1\n",
                           "<job>");
  });
  EXPECT_TRUE(contains(typo, "'model.hidden_size'")) << typo;
  const std::string missing = test::error_message([] {
    train::parse_lm_config("[model]\nbackbone = \"no_such_backbone\"\n[train]\nsteps = 1\n",
                           "<job>");
  });
  EXPECT_TRUE(contains(missing, "no_such_backbone")) << missing;
}

// A --set override of model.backbone decides the schema as the file's value would.
TEST(LmJob, PeekReadsTheOverrideFirst) {
  EXPECT_EQ(Config::peek_string("[model]\nbackbone = \"a\"\n", "<t>", "model.backbone",
                                {"model.backbone=b"}, "z"),
            "b");
  EXPECT_EQ(Config::peek_string("[model]\nbackbone = \"a\"\n", "<t>", "model.backbone",
                                {"model.backbone=\"c\""}, "z"),
            "c");
  EXPECT_EQ(Config::peek_string("[model]\nbackbone = \"a\"\n", "<t>", "model.backbone", {}, "z"),
            "a");
  EXPECT_EQ(Config::peek_string("[train]\nsteps = 1\n", "<t>", "model.backbone", {}, "z"), "z");
  EXPECT_TRUE(contains(test::error_message([] {
                         Config::peek_string("[model]\nbackbone = 3\n", "<t>", "model.backbone", {},
                                             "z");
                       }),
                       "expected string"));
}

}  // namespace
