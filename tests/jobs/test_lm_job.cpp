// The LM job file: the shared trainer sections, the backbone plugin's [model] fields, and their
// parsing into the options the trainer takes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "lm/lm_job.h"
#include "xomni/core/nn/lr_schedule.h"
#include "xomni/plugins/shared_library.h"

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

// Values that used to reach the trainer or the model before any check are refused while the job
// is read, each naming its key: the schema's ranges, run.name leaving run.dir, and seq_len
// longer than the model's positions.
TEST(LmJob, BadValuesAreRefusedUpFrontNamingTheKey) {
  const std::string text = "[model]\nvocab_size = 96\nhidden_size = 32\n[train]\nsteps = 1\n";
  auto error = [&](const std::vector<std::string>& overrides) {
    return test::error_message(
        [&] { train::parse_lm_job(train::parse_lm_config(text, "<job>", overrides)); });
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.seq_len=0", "'train.seq_len' must be at least 1"},
      {"train.seq_len=-4", "'train.seq_len' must be at least 1"},
      {"train.grad_accum=0", "'train.grad_accum' must be at least 1"},
      {"train.batch_size=0", "'train.batch_size' must be at least 1"},
      {"train.steps=0", "'train.steps' must be at least 1"},
      {"train.steps=-3", "'train.steps' must be at least 1"},
      {"train.grad_clip=-1", "'train.grad_clip' must be at least 0"},
      {"train.keep_checkpoints=0", "'train.keep_checkpoints' must be at least 1"},
      {"train.log_every=0", "'train.log_every' must be at least 1"},
      {"train.checkpoint_every=-1", "'train.checkpoint_every' must be at least 0"},
      {"parallel.timeout_s=0", "'parallel.timeout_s' must be greater than 0"},
      {"parallel.timeout_s=-1", "'parallel.timeout_s' must be greater than 0"},
      {"parallel.timeout_s=nan", "'parallel.timeout_s' must be a number"},
      {"parallel.timeout_s=inf", "'parallel.timeout_s' must be at most"},
      {"parallel.tp=0", "'parallel.tp' must be at least 1"},
      {"parallel.virtual_stages=0", "'parallel.virtual_stages' must be at least 1"},
      {"parallel.bucket_mb=0", "'parallel.bucket_mb' must be greater than 0"},
      {"parallel.bucket_mb=inf", "'parallel.bucket_mb' must be at most"},
      {"data.eval_batches=0", "'data.eval_batches' must be at least 1"},
      {"run.seed=-1", "'run.seed' must be at least 0"},
      {"run.name=../x", "run.name = \"../x\" must be one folder name inside run.dir"},
      {"run.name=/tmp/x", "run.name = \"/tmp/x\" must be one folder name"},
      {"run.name=a/b", "run.name = \"a/b\" must be one folder name"},
      {"run.name=..", "run.name = \"..\" must be one folder name"},
      {"run.name=\"\"", "run.name = \"\" must be one folder name"},
      {"train.seq_len=4096",
       "train.seq_len = 4096 is longer than model.max_position_embeddings = 2048"},
      {"parallel.checkpoint_timeout_s=0", "'parallel.checkpoint_timeout_s' must be greater than 0"},
      {"optimizer.learning_rate=inf", "'optimizer.learning_rate' must be at most"},
      {"optimizer.learning_rate=-1e-3", "'optimizer.learning_rate' must be at least 0"},
      {"optimizer.beta1=1", "'optimizer.beta1' must be less than 1"},
      {"optimizer.beta2=1.5", "'optimizer.beta2' must be less than 1"},
      {"optimizer.eps=-1", "'optimizer.eps' must be at least 0"},
      {"optimizer.weight_decay=nan", "'optimizer.weight_decay' must be a number"},
      {"schedule.warmup_steps=-1", "'schedule.warmup_steps' must be at least 0"},
      {"schedule.decay_fraction=2", "'schedule.decay_fraction' must be at most 1"},
      {"schedule.warmup_steps=5",
       "<job>: [schedule] with train.steps = 1 and optimizer.learning_rate = 0.000300: "
       "LrSchedule: total_steps (1) must exceed warmup_steps (5)"},
  };
  for (const auto& [set, expected] : cases) {
    const std::string e = error({"model.max_position_embeddings=2048", set});
    EXPECT_TRUE(contains(e, expected)) << set << " -> " << e;
  }
  // The edges pass.
  const train::LmJob job = train::parse_lm_job(
      train::parse_lm_config(text, "<job>",
                             {"model.max_position_embeddings=64", "train.seq_len=64",
                              "train.grad_clip=0", "run.name=a.b-c"}));
  EXPECT_EQ(job.trainer.loop.seq_len, 64);
  EXPECT_EQ(job.trainer.run.name, "a.b-c");
}

// A directory given as the job file is refused naming it.
TEST(LmJob, DirectoryAsJobFileIsRefused) {
  const std::string e = test::error_message([] { train::load_lm_config(::testing::TempDir()); });
  EXPECT_TRUE(contains(e, ::testing::TempDir() + "' is a directory")) << e;
}

// One rule for every path in a job file: a relative path written in the file is relative to the
// file's folder (a plugin given as "./x.so" or "x.so" included; a bare name stays a name); one
// given with --set is relative to the working directory, like any command-line path.
TEST(LmJob, RelativePathsInAJobFileAreRelativeToItsFolder) {
  namespace fs = std::filesystem;
  const fs::path root =
      fs::path(::testing::TempDir()) / ("xomni_paths_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "jobs");
  const std::string plugin =
      plugins::find_plugin_library("qwen2", "backbone_", "backbone");  // the built one
  fs::copy_file(plugin, root / "jobs" / "my_backbone.so");
  const std::string job = (root / "jobs" / "job.toml").string();
  std::ofstream(job) << "[run]\ndir = \"runs\"\n[model]\nbackbone = \"./my_backbone.so\"\n"
                        "vocab_size = 96\ninit_checkpoint = \"../ckpts/c.h5\"\n"
                        "[data]\ntrain = \"shards/train-*\"\nvalid = \"/abs/valid\"\n"
                        "[train]\nsteps = 1\n";
  const train::LmJob j = train::parse_lm_job(train::load_lm_config(job));
  EXPECT_EQ(j.trainer.run.dir, (root / "jobs" / "runs").string());
  EXPECT_EQ(j.model.backbone, (root / "jobs" / "my_backbone.so").string());
  EXPECT_EQ(j.model.init_checkpoint, (root / "ckpts" / "c.h5").string());
  EXPECT_EQ(j.data.train, (root / "jobs" / "shards" / "train-*").string());
  EXPECT_EQ(j.data.valid, "/abs/valid");
  // The plugin as a bare file name beside the job file works as well.
  std::ofstream(job) << "[model]\nbackbone = \"my_backbone.so\"\nvocab_size = 96\n"
                        "[train]\nsteps = 1\n";
  EXPECT_EQ(train::parse_lm_job(train::load_lm_config(job)).model.backbone,
            (root / "jobs" / "my_backbone.so").string());
  // A bare name is a plugin name; --set values stay relative to the working directory; a
  // default (run.dir = "runs") is not a path written in the file.
  std::ofstream(job) << "[model]\nbackbone = \"qwen2\"\nvocab_size = 96\n[train]\nsteps = 1\n";
  const train::LmJob k = train::parse_lm_job(
      train::load_lm_config(job, {"data.train=here/shards", "model.init_checkpoint=c.h5"}));
  EXPECT_EQ(k.model.backbone, "qwen2");
  EXPECT_EQ(k.data.train, "here/shards");
  EXPECT_EQ(k.model.init_checkpoint, "c.h5");
  EXPECT_EQ(k.trainer.run.dir, "runs");
  // The effective config (config.toml, checkpoints) holds the resolved paths.
  std::ofstream(job) << "[run]\ndir = \"runs\"\n[model]\nvocab_size = 96\n[train]\nsteps = 1\n";
  EXPECT_TRUE(contains(train::load_lm_config(job).to_toml(),
                       "dir = \"" + (root / "jobs" / "runs").string() + "\""));
  fs::remove_all(root);
}

// Sizes whose logits per micro-batch overflow 64 bits are refused naming the keys, before any
// buffer is sized from them.
TEST(LmJob, BatchSizesThatOverflowAreRefused) {
  const std::string e = test::error_message([] {
    train::parse_lm_job(train::parse_lm_config(
        "[model]\nvocab_size = 1000000\nmax_position_embeddings = 1000000\n[train]\nsteps = 1\n"
        "batch_size = 4611686018427387904\nseq_len = 1000\n",
        "<job>"));
  });
  EXPECT_TRUE(contains(e, "train.batch_size = 4611686018427387904 x train.seq_len = 1000")) << e;
  EXPECT_TRUE(contains(e, "more than 64 bits")) << e;
}
