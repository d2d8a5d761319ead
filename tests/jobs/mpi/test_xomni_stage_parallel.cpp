// The X-Omni model (backbone "xomni") trained by the LM stage on mixed text + image documents,
// as the s1 and s2 stages train it, under tensor, pipeline, context and data parallelism and
// tp2 x pp2 x dp2 against one process, and under interleaved 1F1B (pp2 with two virtual stages
// per rank): the same loss curve for 10 steps; a checkpoint saved at
// tp2 x pp2 x dp2 loads in one process and at pp=2 with the next step's loss of an uninterrupted
// run.
#include "lm_equivalence.h"

using namespace xomni;
using namespace xomni::test;

namespace {

// Text ids [0, 48), image code k is id 48 + k (24 codes; 32 rows in the image tables). Layers 0
// and 3 are vision layers (one before, one after the two language layers).
constexpr int kText = 48, kCodes = 24, kSteps = 10;
constexpr int kSom = 45, kImage = 46, kEom = 47;

// Caption-like counting text, then "<SOM>2 3<IMAGE>", six codes that follow from the caption, and
// "<EOM>": the image tokens are predictable, so the loss falls over the steps.
std::vector<std::vector<int32_t>> mixed_documents(size_t count) {
  std::vector<std::vector<int32_t>> docs;
  for (const std::vector<int32_t>& text : counting_documents(count, 40, 17)) {
    std::vector<int32_t> doc(text.begin(), text.begin() + std::min<size_t>(text.size(), 12));
    doc.insert(doc.end(), {kSom, 2, 3, kImage});
    for (int j = 0; j < 6; ++j) doc.push_back(kText + (doc[0] + 5 * j) % kCodes);
    doc.push_back(kEom);
    docs.push_back(doc);
  }
  return docs;
}

std::string mixed_shards(const fs::path& root) {
  const std::string dir = (root / "shards").string();
  if (mpi_rank() == 0) write_token_shards(dir, mixed_documents(160), 1500, kText + kCodes);
  MPI_Barrier(MPI_COMM_WORLD);
  return dir;
}

Config xomni_job(const fs::path& root, const std::string& shards, const std::string& name,
                 const std::string& extra = "", const std::vector<std::string>& overrides = {}) {
  const std::string text =
      "[run]\nname = \"" + name + "\"\ndir = \"" + root.string() +
      "\"\nseed = 5\n[model]\nbackbone = \"xomni\"\nvocab_size = 48\nhidden_size = 32\n"
      "intermediate_size = 64\nnum_hidden_layers = 4\nnum_attention_heads = 8\n"
      "num_key_value_heads = 4\nnum_mm_adap_layers = 1\nnum_mm_head_layers = 1\n"
      "image_vocab_size = 24\nmm_vocab_size = 32\n[data]\ntrain = \"" +
      shards + "\"\n[train]\nsteps = " + std::to_string(kSteps) +
      "\nbatch_size = 4\nseq_len = 24\ngrad_accum = 4\nlog_every = 1000\ngrad_clip = 1.0\n"
      "[optimizer]\nlearning_rate = 1e-2\n" +
      extra;
  return Config::parse(text, "<" + name + ">", train::lm_job_schema("xomni"), overrides);
}

// s1 trains the vision layers, the image embedding, the image norm and the image head alone.
const std::vector<std::string> kS1 = {
    "optimizer.trainable=[\"model.layers.0.*\", \"model.layers.3.*\", \"model.mm_*\", "
    "\"mm_head.*\"]"};

std::vector<LayoutCase> layouts_for(int world) {
  // {tp, dp, sequence_parallel, zero1, cp, pp}
  if (world == 2)
    return {{2, 1, false, false},
            {2, 1, true, false},
            {1, 2, false, true},
            {1, 1, false, false, 2, 1},
            {1, 1, false, false, 1, 2}};
  if (world == 8) return {{2, 2, false, false, 1, 2}, {2, 2, true, true, 1, 2}};
  return {};
}

TEST(XOmniParallel, S2LossCurvesMatchSingleProcess) {
  auto world = world_comm();
  const std::vector<LayoutCase> cases = layouts_for(world->size());
  if (cases.empty()) GTEST_SKIP() << "no layout for " << world->size() << " ranks";
  const fs::path root = shared_fresh_dir("xomni_s2");
  const std::string shards = mixed_shards(root);
  const std::vector<double> want = single_process_losses(xomni_job(root, shards, "single"), *world);
  ASSERT_EQ(want.size(), size_t(kSteps));
  EXPECT_LT(want.back(), want.front() - 0.3) << "the reference run does not learn";
  for (const LayoutCase& c : cases) {
    const Config job = xomni_job(root, shards, c.name(), c.toml());
    expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want, c.name());
  }
}

// The s1 selection under pipeline parallelism: each stage holds only some of the trainable
// globs' parameters.
TEST(XOmniParallel, S1TrainsTheVisionPartsAloneUnderPipelineStages) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("xomni_s1");
  const std::string shards = mixed_shards(root);
  const std::vector<double> want =
      single_process_losses(xomni_job(root, shards, "s1_single", "", kS1), *world);
  const LayoutCase pp2{1, 1, false, false, 1, 2};
  const Config job = xomni_job(root, shards, "s1_pp2", pp2.toml(), kS1);
  expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want,
                      "s1 " + pp2.name());
}

// Interleaved 1F1B (pp=2, virtual_stages=2): rank 0 holds the embedding and layer 0 and layer 2,
// rank 1 layers 1 and 3 with the heads.
TEST(XOmniParallel, S2UnderInterleavedPipelineMatchesSingleProcess) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("xomni_interleaved");
  const std::string shards = mixed_shards(root);
  const std::vector<double> want = single_process_losses(xomni_job(root, shards, "single"), *world);
  const Config job = xomni_job(root, shards, "pp2_v2", "[parallel]\npp = 2\nvirtual_stages = 2\n");
  expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want, "pp2_v2");
}

TEST(XOmniParallel, CheckpointsReshardAcrossLayouts) {
  auto world = world_comm();
  if (world->size() != 8) GTEST_SKIP() << "saves at tp=2 x pp=2 x dp=2: needs 8 ranks";
  const fs::path root = shared_fresh_dir("xomni_reshard");
  const std::string shards = mixed_shards(root);
  const LayoutCase saved{2, 2, true, true, 1, 2};
  const std::vector<double> want = single_process_losses(xomni_job(root, shards, "ref"), *world, 6);
  ASSERT_EQ(want.size(), 6u);
  train::run_lm_training(xomni_job(root, shards, "saved", saved.toml()), 5, world.get());
  const std::string ckpt = checkpoint_path((root / "saved" / "checkpoints").string(), 5);
  for (const LayoutCase& c :
       {LayoutCase{1, 1, false, false, 1, 1}, LayoutCase{1, 1, false, false, 1, 2}}) {
    auto group = world->split(world->rank() < c.world() ? 0 : -1, world->rank(), "part");
    expect_reshards(
        root, ckpt, c.name(), group.get(),
        [&](const std::string& run) { return xomni_job(root, shards, run, c.toml()); }, want[5]);
  }
}

}  // namespace
