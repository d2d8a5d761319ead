// The LM training stage under data and tensor parallelism against one process: the same loss
// curve for 20 steps in every layout that fits the world, and checkpoints that load under any
// layout (every tensor, Adam moments included, round-trips exactly; the next step's loss matches
// an uninterrupted run).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "lm/lm_stage.h"
#include "lm_equivalence.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::test;
namespace fs = std::filesystem;

namespace {

std::vector<LayoutCase> layouts_for(int world) {
  std::vector<LayoutCase> out = {{1, world, false, false},
                                 {1, world, false, true},
                                 {world, 1, false, false},
                                 {world, 1, true, false}};
  if (world == 4) out.push_back({2, 2, true, true});
  if (world == 8) out = {{2, 4, false, true}, {4, 2, true, false}};
  return out;
}

TEST(LmParallel, LossCurvesMatchSingleProcess) {
  auto world = world_comm();
  const fs::path root = shared_fresh_dir("curves");
  const std::string shards = tiny_shards(root);
  const std::vector<double> want =
      single_process_losses(tiny_job(root, shards, "single", 20), *world);
  ASSERT_EQ(want.size(), 20u);
  EXPECT_LT(want.back(), want.front() - 0.5) << "the reference run does not learn";
  for (const LayoutCase& c : layouts_for(world->size())) {
    const Config job = tiny_job(root, shards, c.name(), 20, c.toml());
    expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want, c.name());
  }
}

TEST(LmParallel, CheckpointsReshardAcrossLayouts) {
  if (mpi_size() != 4) GTEST_SKIP() << "saves at tp=2 x dp=2: needs 4 ranks";
  auto world = world_comm();
  const fs::path root = shared_fresh_dir("reshard");
  const std::string shards = tiny_shards(root);
  const LayoutCase saved{2, 2, true, true};
  // Uninterrupted reference: 6 steps in one process.
  const std::vector<double> want =
      single_process_losses(tiny_job(root, shards, "ref", 10), *world, 6);
  ASSERT_EQ(want.size(), 6u);
  // Train 5 steps at tp=2 x dp=2 (ZeRO-1, sequence parallel) and stop, as a preemption would.
  train::run_lm_training(tiny_job(root, shards, "saved", 10, saved.toml()), 5, world.get());
  const std::string ckpt = checkpoint_path((root / "saved" / "checkpoints").string(), 5);

  const std::vector<LayoutCase> targets = {
      {1, 1, false, false}, {4, 1, false, false}, {1, 4, false, true}, {1, 4, false, false}};
  for (const LayoutCase& c : targets) {
    const bool alone = c.tp * c.dp == 1;
    auto group = alone ? world->split(world->rank() == 0 ? 0 : -1, 0, "self")
                       : world->split(0, world->rank(), "all");
    expect_reshards(
        root, ckpt, c.name(), group.get(),
        [&](const std::string& run) { return tiny_job(root, shards, run, 10, c.toml()); }, want[5]);
  }
}

}  // namespace
