// The LM training stage under data and tensor parallelism against one process: the same loss
// curve for 20 steps in every layout that fits the world, and checkpoints that load under any
// layout (every tensor, Adam moments included, round-trips exactly; the next step's loss matches
// an uninterrupted run).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "lm_job_fixture.h"
#include "lm_trainer.h"
#include "xomni/core/checkpoint.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::test;
namespace fs = std::filesystem;

namespace {

// Loss agreement per step. Reductions run in a different order under each layout (partial sums
// over tp ranks, summed gradients over dp ranks), so values differ by rounding, which 20 AdamW
// steps amplify a little.
constexpr double kLossRelTol = 1e-5;

std::unique_ptr<parallel::MpiCommunicator> world_comm() {
  parallel::CommOptions o;
  o.timeout_s = 120;
  return parallel::mpi_world(o);
}

// Rank 0 trains the job alone (a one-rank world); every rank receives its losses.
std::vector<double> single_process_losses(const Config& job, parallel::MpiCommunicator& world,
                                          int64_t max_steps = -1) {
  auto self = world.split(world.rank() == 0 ? 0 : -1, 0, "self");
  std::vector<double> losses;
  if (self) losses = train::run_lm_training(job, max_steps, self.get()).losses;
  Tensor n = Tensor::full({1}, double(losses.size()), DType::i64);
  world.broadcast(n, 0);
  Tensor values = Tensor::zeros({int64_t(n.item())}, DType::f64);
  if (world.rank() == 0 && !losses.empty())
    values.copy_(Tensor::from_vector(losses, {int64_t(losses.size())}));
  world.broadcast(values, 0);
  return values.to_vector<double>();
}

void expect_losses_match(const std::vector<double>& got, const std::vector<double>& want,
                         const std::string& layout) {
  ASSERT_EQ(got.size(), want.size()) << layout;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] / want[i] - 1));
  if (std::getenv("XOMNI_REPORT_ERRORS") && mpi_rank() == 0)
    std::printf("  %-24s largest relative loss difference over %zu steps: %.3g\n", layout.c_str(),
                got.size(), worst);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(std::abs(got[i] - want[i]), kLossRelTol * std::abs(want[i]))
        << layout << " step " << i + 1 << ": " << got[i] << " vs single process " << want[i];
}

struct LayoutCase {
  int tp, dp;
  bool sequence_parallel, zero1;
  std::string toml() const {
    return "[parallel]\ntp = " + std::to_string(tp) + "\ndp = " + std::to_string(dp) +
           "\nsequence_parallel = " + (sequence_parallel ? "true" : "false") +
           "\ndistributed_optimizer = " + (zero1 ? "true" : "false") + "\n";
  }
  std::string name() const {
    return "tp" + std::to_string(tp) + "_dp" + std::to_string(dp) +
           (sequence_parallel ? "_sp" : "") + (zero1 ? "_zero1" : "");
  }
};

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

// Every tensor of two checkpoints, bitwise.
void expect_same_tensors(const std::string& a, const std::string& b) {
  CheckpointReader ra(a), rb(b);
  ASSERT_EQ(ra.tensor_names(), rb.tensor_names());
  for (const std::string& name : ra.tensor_names()) {
    const Tensor x = ra.read_tensor(name).to(DType::f64), y = rb.read_tensor(name).to(DType::f64);
    ASSERT_EQ(x.shape(), y.shape()) << name;
    EXPECT_EQ(x.to_vector<double>(), y.to_vector<double>()) << name << " differs";
  }
  EXPECT_EQ(ra.data_position("train_loader"), rb.data_position("train_loader"));
}

// Copies the checkpoints of run `from` into a fresh run `to` (a requeued job in a new layout).
void copy_run(const fs::path& root, const std::string& from, const std::string& to) {
  if (mpi_rank() == 0) {
    fs::remove_all(root / to);
    fs::create_directories(root / to);
    fs::copy(root / from / "checkpoints", root / to / "checkpoints", fs::copy_options::recursive);
  }
  MPI_Barrier(MPI_COMM_WORLD);
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
    // Load and save again without a step: the file must hold the same tensors.
    const std::string roundtrip = "rt_" + c.name(), resumed = "next_" + c.name();
    copy_run(root, "saved", roundtrip);
    copy_run(root, "saved", resumed);
    if (group) {
      const Config rt = tiny_job(root, shards, roundtrip, 10, c.toml());
      EXPECT_EQ(train::run_lm_training(rt, 0, group.get()).steps_done, 5);
      // One more step: the loss of step 6 of an uninterrupted run.
      const auto next =
          train::run_lm_training(tiny_job(root, shards, resumed, 10, c.toml()), 1, group.get());
      ASSERT_EQ(next.losses.size(), 1u) << c.name();
      EXPECT_LE(std::abs(next.losses[0] - want[5]), kLossRelTol * want[5])
          << c.name() << ": step 6 after resharding " << next.losses[0] << " vs " << want[5];
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (world->rank() == 0) {
      SCOPED_TRACE("load at " + c.name() + " and save again");
      expect_same_tensors(ckpt, checkpoint_path((root / roundtrip / "checkpoints").string(), 5));
    }
  }
}

}  // namespace
