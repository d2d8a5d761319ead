// The LM stage under pipeline and context parallelism (alone and combined with tensor and data
// parallelism) against one process: the same loss curve, and checkpoints saved at
// tp=2 x pp=2 x cp=2 that load at other layouts with the next step's loss of an uninterrupted run.
#include "lm_equivalence.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::test;

namespace {

// A 4-layer model (pp up to 4) with 8 micro-batches per step (the 1F1B steady state).
constexpr int kLayers = 4, kMicro = 8, kSteps = 10;

std::vector<LayoutCase> layouts_for(int world) {
  // {tp, dp, sequence_parallel, zero1, cp, pp}
  if (world == 2) return {{1, 1, false, false, 1, 2}, {1, 1, false, false, 2, 1}};
  if (world == 4)
    return {{1, 1, false, false, 1, 4},
            {1, 1, false, false, 4, 1},
            {1, 1, false, true, 2, 2},
            {2, 1, true, false, 2, 1}};
  if (world == 8)
    return {{2, 2, false, false, 1, 2}, {2, 1, true, false, 2, 2}, {1, 2, false, true, 2, 2}};
  return {};
}

TEST(LmPipelineContext, LossCurvesMatchSingleProcess) {
  auto world = world_comm();
  const std::vector<LayoutCase> cases = layouts_for(world->size());
  if (cases.empty()) GTEST_SKIP() << "no layout for " << world->size() << " ranks";
  const fs::path root = shared_fresh_dir("ppcp");
  const std::string shards = tiny_shards(root);
  const std::vector<double> want =
      single_process_losses(tiny_job(root, shards, "single", kSteps, "", kLayers, kMicro), *world);
  ASSERT_EQ(want.size(), size_t(kSteps));
  for (const LayoutCase& c : cases) {
    const Config job = tiny_job(root, shards, c.name(), kSteps, c.toml(), kLayers, kMicro);
    expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want, c.name());
  }
}

TEST(LmPipelineContext, TimelineOfOneStepIsWritten) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("timeline");
  const std::string shards = tiny_shards(root);
  const LayoutCase pp2{1, 1, false, false, 1, 2};
  train::run_lm_training(
      tiny_job(root, shards, "tl", 5, pp2.toml() + "timeline_step = 2\n", kLayers, kMicro), -1,
      world.get());
  const auto events = parallel::read_timeline_jsonl(
      (root / "tl" / "timeline" / ("rank-0000" + std::to_string(world->rank()) + ".jsonl"))
          .string());
  ASSERT_EQ(events.size(), size_t(2 * kMicro)) << "one forward and one backward per micro-batch";
  for (const parallel::TimelineEvent& e : events) {
    EXPECT_EQ(e.rank, world->rank());
    EXPECT_EQ(e.step, 2);
    EXPECT_LE(e.start, e.end);
  }
}

TEST(LmPipelineContext, CheckpointsReshardAcrossLayouts) {
  auto world = world_comm();
  if (world->size() != 8) GTEST_SKIP() << "saves at tp=2 x pp=2 x cp=2: needs 8 ranks";
  const fs::path root = shared_fresh_dir("reshard_ppcp");
  const std::string shards = tiny_shards(root);
  const LayoutCase saved{2, 1, true, true, 2, 2};
  const std::vector<double> want =
      single_process_losses(tiny_job(root, shards, "ref", 10, "", kLayers, kMicro), *world, 6);
  ASSERT_EQ(want.size(), 6u);
  train::run_lm_training(tiny_job(root, shards, "saved", 10, saved.toml(), kLayers, kMicro), 5,
                         world.get());
  const std::string ckpt = checkpoint_path((root / "saved" / "checkpoints").string(), 5);
  for (const LayoutCase& c :
       {LayoutCase{1, 1, false, false, 1, 1}, LayoutCase{1, 1, false, false, 1, 4}}) {
    auto group = world->split(world->rank() < c.world() ? 0 : -1, world->rank(), "part");
    expect_reshards(
        root, ckpt, c.name(), group.get(),
        [&](const std::string& run) {
          return tiny_job(root, shards, run, 10, c.toml(), kLayers, kMicro);
        },
        want[5]);
  }
}

}  // namespace
