// The LM training stage: an interrupted run resumes exactly (bitwise identical losses and
// weights at a fixed thread count), a damaged newest checkpoint falls back to the previous one,
// and the loss goes down; the unfused head and loss train alike.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "check.h"
#include "lm/lm_stage.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::contains;

namespace {
fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("xomni_lm_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Documents of a tiny language: counting sequences with a random start and stride, so the
// next token is predictable from the previous two.
std::string make_shards(const fs::path& root) {
  const auto docs = xomni::test::counting_documents(200, 48, 11);
  const std::string dir = (root / "shards").string();
  write_token_shards(dir, docs, 1500, 48);
  return dir;
}

Config job(const fs::path& root, const std::string& shards, const std::string& name, int steps,
           int ckpt_every, const std::vector<std::string>& overrides = {}) {
  const std::string text =
      "[run]\nname = \"" + name + "\"\ndir = \"" + root.string() +
      "\"\nseed = 5\n[model]\nvocab_size = 48\nhidden_size = 32\n"
      "intermediate_size = 64\nnum_hidden_layers = 2\nnum_attention_heads = 4\n"
      "num_key_value_heads = 2\n[data]\ntrain = \"" +
      shards + "\"\n[train]\nsteps = " + std::to_string(steps) +
      "\nbatch_size = 4\nseq_len = 32\ngrad_accum = 2\nlog_every = 1000\n"
      "checkpoint_every = " +
      std::to_string(ckpt_every) +
      "\n[optimizer]\nlearning_rate = 1e-2\n[schedule]\nkind = \"cosine\"\n"
      "warmup_steps = 4\n";
  return Config::parse(text, "<test job>", train::lm_job_schema(), overrides);
}

std::vector<std::string> losses(const fs::path& run_dir) {
  return xomni::test::logged_losses(run_dir.string());
}
}  // namespace

TEST(LmTraining, ResumeIsBitwiseIdenticalAndLossDrops) {
  const fs::path root = fresh_dir("resume");
  const std::string shards = make_shards(root);
  const train::TrainResult straight = train::run_lm_training(job(root, shards, "straight", 40, 0));
  EXPECT_EQ(straight.steps_done, 40);

  const Config split = job(root, shards, "split", 40, 0);
  const train::TrainResult first = train::run_lm_training(split, 20);  // "preempted" at 20
  EXPECT_EQ(first.steps_done, 20);
  const train::TrainResult second = train::run_lm_training(split);
  EXPECT_EQ(second.steps_done, 40);

  const std::vector<std::string> a = losses(root / "straight"), b = losses(root / "split");
  ASSERT_EQ(a.size(), 40u);
  EXPECT_EQ(a, b);  // the printed 9-digit losses, step by step
  CheckpointReader ra(checkpoint_path((root / "straight" / "checkpoints").string(), 40));
  CheckpointReader rb(checkpoint_path((root / "split" / "checkpoints").string(), 40));
  for (const std::string& name : ra.tensor_names())
    EXPECT_EQ(ra.read_tensor(name).to_vector<float>(), rb.read_tensor(name).to_vector<float>())
        << name;
  EXPECT_LT(std::stod(a.back()), std::stod(a.front()) * 0.6) << a.front() << " -> " << a.back();
}

// model.fused_head_loss=false (the logits, then the loss) trains like the default fused head and
// loss: the same per-step losses up to f32 rounding, which 8 steps of AdamW barely grow.
TEST(LmTraining, UnfusedHeadLossTrainsLikeTheFusedOne) {
  const fs::path root = fresh_dir("fused");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "fused", 8, 0));
  train::run_lm_training(job(root, shards, "unfused", 8, 0, {"model.fused_head_loss=false"}));
  const std::vector<std::string> a = losses(root / "fused"), b = losses(root / "unfused");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(std::stod(a[i]), std::stod(b[i]), 1e-5 * std::stod(b[i])) << "step " << i + 1;
}

TEST(LmTraining, DamagedNewestCheckpointFallsBackToThePreviousOne) {
  const fs::path root = fresh_dir("fallback");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "run", 10, 4));  // checkpoints at 4, 8, 10
  const fs::path ckpts = root / "run" / "checkpoints";
  const std::string newest = checkpoint_path(ckpts.string(), 10);
  fs::resize_file(newest, fs::file_size(newest) / 2);
  testing::internal::CaptureStderr();
  const train::TrainResult r = train::run_lm_training(job(root, shards, "run", 12, 4));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(newest), std::string::npos) << err;    // warned about the bad file
  EXPECT_NE(err.find("step 8"), std::string::npos) << err;  // and resumed from step 8
  EXPECT_EQ(r.steps_done, 12);
}

// A stage that starts from another run's weights (model.init_checkpoint): with no checkpoint of
// its own it loads them (its step-0 checkpoint holds exactly those weights, and a fresh optimizer
// state); once it has its own, resuming wins over the initial weights.
TEST(LmTraining, InitCheckpointLoadsAnotherRunsWeightsOnlyOnAFreshStart) {
  const fs::path root = fresh_dir("init");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "earlier", 6, 0));
  const std::string earlier = checkpoint_path((root / "earlier" / "checkpoints").string(), 6);

  Config later = Config::parse(
      "[run]\nname = \"later\"\ndir = \"" + root.string() +
          "\"\nseed = 9\n[model]\nvocab_size = 48\nhidden_size = 32\nintermediate_size = 64\n"
          "num_hidden_layers = 2\nnum_attention_heads = 4\nnum_key_value_heads = 2\n"
          "init_checkpoint = \"" +
          earlier + "\"\n[data]\ntrain = \"" + shards +
          "\"\n[train]\nsteps = 2\nbatch_size = 4\nseq_len = 32\nlog_every = 1000\n"
          "[schedule]\nkind = \"constant\"\n",
      "<later job>", train::lm_job_schema());
  EXPECT_EQ(train::run_lm_training(later, 0).steps_done, 0);
  CheckpointReader from(earlier);
  CheckpointReader got(checkpoint_path((root / "later" / "checkpoints").string(), 0));
  int compared = 0;
  for (const std::string& name : from.tensor_names()) {
    if (name.rfind("model/", 0) != 0) continue;
    EXPECT_EQ(from.read_tensor(name).to_vector<float>(), got.read_tensor(name).to_vector<float>())
        << name;
    ++compared;
  }
  EXPECT_GT(compared, 5);
  EXPECT_EQ(got.read_tensor("optimizer/step").item(), 0.0);

  // The next run resumes from its own step-0 checkpoint, not from the init weights.
  testing::internal::CaptureStderr();
  EXPECT_EQ(train::run_lm_training(later).steps_done, 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("resuming from"), std::string::npos) << err;
  EXPECT_EQ(err.find("starting from the weights"), std::string::npos) << err;
}

// Weights of another size are refused before anything is loaded, naming every tensor that does
// not fit (and the run writes no checkpoint of its own).
TEST(LmTraining, InitCheckpointOfAnotherSizeIsRefusedNamingTheTensors) {
  const fs::path root = fresh_dir("init_misfit");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "earlier", 6, 0));
  const std::string earlier = checkpoint_path((root / "earlier" / "checkpoints").string(), 6);
  Config wider = Config::parse(
      "[run]\nname = \"wider\"\ndir = \"" + root.string() +
          "\"\n[model]\nvocab_size = 48\nhidden_size = 32\nintermediate_size = 96\n"
          "num_hidden_layers = 2\nnum_attention_heads = 4\nnum_key_value_heads = 2\n"
          "init_checkpoint = \"" +
          earlier + "\"\n[data]\ntrain = \"" + shards +
          "\"\n[train]\nsteps = 2\nbatch_size = 4\nseq_len = 32\n[schedule]\nkind = \"constant\"\n",
      "<wider job>", train::lm_job_schema());
  const std::string m = test::error_message([&] { train::run_lm_training(wider); });
  EXPECT_NE(m.find(earlier), std::string::npos) << m;
  EXPECT_NE(m.find("do not fit"), std::string::npos) << m;
  EXPECT_NE(m.find("model/model.layers.0.mlp.up_proj.weight is [64, 32] but the model's "
                   "model.layers.0.mlp.up_proj.weight is [96, 32]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("model.layers.1.mlp.down_proj.weight"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(checkpoint_path((root / "wider" / "checkpoints").string(), 0)));
}

// optimizer.trainable trains only what its globs name: after a few steps those weights moved and
// every other one is bit for bit the initial weight; a glob that names nothing is refused.
TEST(LmTraining, TrainableGlobsTrainOnlyThoseParameters) {
  const fs::path root = fresh_dir("trainable");
  const std::string shards = make_shards(root);
  const Config c = job(root, shards, "part", 6, 6,
                       {"optimizer.trainable=[\"model.layers.1.*\", \"model.norm.*\"]"});
  train::run_lm_training(c, 0);  // step 0: the initial weights
  train::run_lm_training(c);
  CheckpointReader first(checkpoint_path((root / "part" / "checkpoints").string(), 0));
  CheckpointReader last(checkpoint_path((root / "part" / "checkpoints").string(), 6));
  int moved = 0, fixed = 0;
  for (const std::string& name : first.tensor_names()) {
    if (name.rfind("model/", 0) != 0) continue;
    const bool trains =
        name.rfind("model/model.layers.1.", 0) == 0 || name == "model/model.norm.weight";
    const bool same =
        first.read_tensor(name).to_vector<float>() == last.read_tensor(name).to_vector<float>();
    EXPECT_EQ(same, !trains) << name;
    (trains ? moved : fixed) += 1;
  }
  EXPECT_EQ(moved, 13);  // a block: 2 norms, q/k/v weights and biases, o, gate, up, down; the norm
  EXPECT_GT(fixed, 10);

  const Config bad = job(root, shards, "bad", 6, 0, {"optimizer.trainable=[\"model.layers.7.*\"]"});
  const std::string m = test::error_message([&] { train::run_lm_training(bad); });
  EXPECT_NE(m.find("optimizer.trainable pattern 'model.layers.7.*' matches no parameter"),
            std::string::npos)
      << m;
}

namespace {
std::vector<long long> metric_steps(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "a partial last line";
  std::vector<long long> steps;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    long long s = -1;
    EXPECT_EQ(std::sscanf(line.c_str(), "{\"step\": %lld,", &s), 1) << line;
    steps.push_back(s);
  }
  return steps;
}
}  // namespace

// A run that died after writing metrics past its last checkpoint (and a line cut short by a full
// disk) resumes with exactly one complete line per step.
TEST(LmTraining, ResumedMetricsHaveEachStepOnceAndNoPartialLine) {
  const fs::path root = fresh_dir("metrics");
  const std::string shards = make_shards(root);
  train::run_lm_training(job(root, shards, "run", 10, 4));  // checkpoints at 4, 8, 10
  fs::remove(checkpoint_path((root / "run" / "checkpoints").string(), 10));
  std::ofstream(root / "run" / "metrics.jsonl", std::ios::app) << "{\"step\": 11, \"lo";
  testing::internal::CaptureStderr();
  EXPECT_EQ(train::run_lm_training(job(root, shards, "run", 12, 4)).steps_done, 12);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("dropped 3 line(s) after step 8"), std::string::npos) << err;
  std::vector<long long> expected;
  for (long long s = 1; s <= 12; ++s) expected.push_back(s);
  EXPECT_EQ(metric_steps(root / "run"), expected);
}

// Metrics that cannot be written (a full disk: /dev/full) stop the run with an error naming the
// file and the reason, before it writes a checkpoint the metrics do not cover.
TEST(LmTraining, MetricsWriteFailureStopsTheRunNamingTheFile) {
  const fs::path root = fresh_dir("full");
  const std::string shards = make_shards(root);
  fs::create_directories(root / "run");
  fs::create_symlink("/dev/full", root / "run" / "metrics.jsonl");
  const std::string err =
      test::error_message([&] { train::run_lm_training(job(root, shards, "run", 6, 2)); });
  EXPECT_NE(err.find("metrics.jsonl"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_TRUE(list_checkpoints((root / "run" / "checkpoints").string()).empty());
}

// When every checkpoint of a run is unreadable the run is refused rather than restarted over
// them; train.ignore_unreadable_checkpoints starts from step 0 and leaves them in place.
TEST(LmTraining, AllCheckpointsUnreadableIsRefusedUnlessAskedToStartOver) {
  const fs::path root = fresh_dir("unreadable");
  const std::string shards = make_shards(root);
  const fs::path ckpts = root / "run" / "checkpoints";
  fs::create_directories(ckpts);
  for (int64_t s : {100, 200}) std::ofstream(checkpoint_path(ckpts.string(), s)) << "junk";
  testing::internal::CaptureStderr();
  const std::string err =
      test::error_message([&] { train::run_lm_training(job(root, shards, "run", 6, 0)); });
  testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("none of the checkpoints in " + ckpts.string() + " can be read"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("train.ignore_unreadable_checkpoints"), std::string::npos) << err;

  Config again = job(root, shards, "run", 6, 0);
  again = Config::parse(again.to_toml(), "<again>", train::lm_job_schema(),
                        {"train.ignore_unreadable_checkpoints=true"});
  testing::internal::CaptureStderr();
  EXPECT_EQ(train::run_lm_training(again).steps_done, 6);
  testing::internal::GetCapturedStderr();
  std::vector<int64_t> steps;
  for (const CheckpointFile& f : list_checkpoints(ckpts.string())) steps.push_back(f.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{6, 100, 200}));  // the junk is still there
}

namespace {
// `c` with --set overrides applied.
Config with(const Config& c, const std::vector<std::string>& overrides) {
  return Config::parse(c.to_toml(), c.source(), train::lm_job_schema(), overrides);
}
}  // namespace

// A checkpoint that verifies but belongs to another model is skipped with the reason, and the
// previous one resumes; a checkpoint replaced by a directory is named, not skipped silently; when
// none fits the run is refused naming each and why.
TEST(LmTraining, CheckpointOfAnotherModelFallsBackAndNoneFittingIsRefused) {
  const fs::path root = fresh_dir("misfit");
  const std::string shards = make_shards(root);
  const fs::path ckpts = root / "run" / "checkpoints";
  train::run_lm_training(job(root, shards, "run", 6, 2));  // checkpoints at 2, 4, 6
  train::run_lm_training(with(job(root, shards, "wide", 6, 2), {"model.hidden_size=48"}));
  const fs::path wide = root / "wide" / "checkpoints";
  fs::copy_file(checkpoint_path(wide.string(), 6), checkpoint_path(ckpts.string(), 6),
                fs::copy_options::overwrite_existing);
  fs::create_directories(checkpoint_path(ckpts.string(), 8));
  testing::internal::CaptureStderr();
  const train::TrainResult r = train::run_lm_training(job(root, shards, "run", 7, 0));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.steps_done, 7);
  EXPECT_TRUE(contains(err, checkpoint_path(ckpts.string(), 8) + ": it is a directory")) << err;
  EXPECT_TRUE(contains(err, "skipping checkpoint " + checkpoint_path(ckpts.string(), 6) +
                                ": model/model.embed_tokens.weight is [48, 48] in it but "
                                "[48, 32] in the model"))
      << err;
  EXPECT_TRUE(contains(err, "resuming from " + checkpoint_path(ckpts.string(), 4))) << err;
  EXPECT_FALSE(contains(err, "HDF5")) << err;

  // Only checkpoints of the other model: refused, each named.
  for (const CheckpointFile& f : list_checkpoints(ckpts.string())) fs::remove(f.path);
  for (int64_t s : {4, 6})
    fs::copy_file(checkpoint_path(wide.string(), s), checkpoint_path(ckpts.string(), s));
  testing::internal::CaptureStderr();
  const std::string refused =
      test::error_message([&] { train::run_lm_training(job(root, shards, "run", 8, 0)); });
  testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(refused, "no checkpoint in " + ckpts.string() + " fits")) << refused;
  for (int64_t s : {4, 6})
    EXPECT_TRUE(contains(refused, checkpoint_path(ckpts.string(), s) + ": model/")) << refused;
  EXPECT_TRUE(contains(refused, "another run.name")) << refused;
  for (int64_t s : {4, 6})  // nothing of theirs was touched
    EXPECT_EQ(checkpoint_problem(checkpoint_path(ckpts.string(), s)), "");
}

// A finished run does nothing (and says so) without touching its files; a lower step count than
// the run has reached is refused; a higher one continues and says the schedule is stretched.
TEST(LmTraining, ChangedStepCountSaysWhatHappens) {
  const fs::path root = fresh_dir("steps");
  const std::string shards = make_shards(root);
  const fs::path run = root / "run";
  train::run_lm_training(job(root, shards, "run", 6, 0));
  std::ofstream(run / "config.toml") << "# marker\n";
  const auto metrics_size = fs::file_size(run / "metrics.jsonl");

  testing::internal::CaptureStderr();
  const train::TrainResult done = train::run_lm_training(job(root, shards, "run", 6, 0));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(done.already_complete);
  EXPECT_EQ(done.steps_done, 6);
  EXPECT_TRUE(contains(err, "already complete at step 6")) << err;

  testing::internal::CaptureStderr();
  err = test::error_message([&] { train::run_lm_training(job(root, shards, "run", 5, 0)); });
  testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, "train.steps = 5")) << err;
  EXPECT_TRUE(contains(err, "already at step 6")) << err;

  std::ifstream config(run / "config.toml");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(config), {}), "# marker\n");
  EXPECT_EQ(fs::file_size(run / "metrics.jsonl"), metrics_size);
  EXPECT_EQ(list_checkpoints((run / "checkpoints").string()).size(), 1u);

  testing::internal::CaptureStderr();
  const train::TrainResult more = train::run_lm_training(job(root, shards, "run", 9, 0));
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(more.steps_done, 9);
  EXPECT_FALSE(more.already_complete);
  EXPECT_TRUE(contains(err, "train.steps is 9; the job that wrote")) << err;
  EXPECT_TRUE(contains(err, "had 6. Training continues from step 6 to 9")) << err;
  EXPECT_TRUE(contains(err, "schedule is stretched")) << err;
}

// Freezing every parameter is refused naming optimizer.freeze (nothing would train).
TEST(LmTraining, FreezingEveryParameterIsRefused) {
  const fs::path root = fresh_dir("freeze");
  const std::string shards = make_shards(root);
  const std::string err = test::error_message([&] {
    train::run_lm_training(with(job(root, shards, "run", 6, 0), {"optimizer.freeze=[\"*\"]"}));
  });
  EXPECT_TRUE(contains(err, "optimizer.freeze = [\"*\"] freezes every parameter")) << err;
}

// A config.toml that cannot be written (a full disk: /dev/full) stops the run naming the file,
// before it trains.
TEST(LmTraining, ConfigWriteFailureStopsTheRunNamingTheFile) {
  const fs::path root = fresh_dir("config_full");
  const std::string shards = make_shards(root);
  fs::create_directories(root / "run");
  fs::create_symlink("/dev/full", root / "run" / "config.toml.tmp");
  const std::string err =
      test::error_message([&] { train::run_lm_training(job(root, shards, "run", 6, 0)); });
  EXPECT_TRUE(contains(err, "cannot write " + (root / "run" / "config.toml").string())) << err;
  EXPECT_TRUE(contains(err, "No space left on device")) << err;
  EXPECT_FALSE(fs::exists(root / "run" / "metrics.jsonl"));
}
