#pragma once
// Comparing the LM stage under a parallel layout with one process: loss curves, checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>

#include "lm/lm_stage.h"
#include "lm_job_fixture.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::test {
namespace fs = std::filesystem;

// Loss agreement per step. Reductions run in a different order under each layout (partial sums
// over tp ranks, summed gradients over dp ranks), so values differ by rounding, which 20 AdamW
// steps amplify a little.
constexpr double kLossRelTol = 1e-5;

inline std::unique_ptr<parallel::MpiCommunicator> world_comm() {
  parallel::CommOptions o;
  o.timeout_s = 120;
  return parallel::mpi_world(o);
}

// Rank 0 runs `train` alone (on a one-rank world); every rank receives the losses it returns.
inline std::vector<double> losses_of_rank0_alone(
    parallel::MpiCommunicator& world,
    const std::function<std::vector<double>(const parallel::MpiCommunicator*)>& train) {
  auto self = world.split(world.rank() == 0 ? 0 : -1, 0, "self");
  std::vector<double> losses;
  if (self) losses = train(self.get());
  Tensor n = Tensor::full({1}, double(losses.size()), DType::i64);
  world.broadcast(n, 0);
  Tensor values = Tensor::zeros({int64_t(n.item())}, DType::f64);
  if (world.rank() == 0 && !losses.empty())
    values.copy_(Tensor::from_vector(losses, {int64_t(losses.size())}));
  world.broadcast(values, 0);
  return values.to_vector<double>();
}

// Rank 0 trains the LM job alone; every rank receives its losses.
inline std::vector<double> single_process_losses(const Config& job,
                                                 parallel::MpiCommunicator& world,
                                                 int64_t max_steps = -1) {
  return losses_of_rank0_alone(world, [&](const parallel::MpiCommunicator* self) {
    return train::run_lm_training(job, max_steps, self).losses;
  });
}

inline void expect_losses_match(const std::vector<double>& got, const std::vector<double>& want,
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
  int cp = 1, pp = 1;
  int world() const { return tp * dp * cp * pp; }
  std::string toml() const {
    return "[parallel]\ntp = " + std::to_string(tp) + "\ndp = " + std::to_string(dp) +
           "\ncp = " + std::to_string(cp) + "\npp = " + std::to_string(pp) +
           "\nsequence_parallel = " + (sequence_parallel ? "true" : "false") +
           "\ndistributed_optimizer = " + (zero1 ? "true" : "false") + "\n";
  }
  std::string name() const {
    std::string n = "tp" + std::to_string(tp) + "_dp" + std::to_string(dp);
    if (cp > 1) n += "_cp" + std::to_string(cp);
    if (pp > 1) n += "_pp" + std::to_string(pp);
    return n + (sequence_parallel ? "_sp" : "") + (zero1 ? "_zero1" : "");
  }
};

// Every tensor of two checkpoints, bitwise.
inline void expect_same_tensors(const std::string& a, const std::string& b) {
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
inline void copy_run(const fs::path& root, const std::string& from, const std::string& to) {
  if (mpi_rank() == 0) {
    fs::remove_all(root / to);
    fs::create_directories(root / to);
    fs::copy(root / from / "checkpoints", root / to / "checkpoints", fs::copy_options::recursive);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// A checkpoint loaded under another layout: `ckpt` is step 5 of run "saved" under `root`. The
// ranks of `group` (null on every other rank) run `job(run name)` in two copies of that run:
// loading and saving again without a step keeps every tensor, and one more step gives
// `want_step6`, the sixth loss of an uninterrupted run. Collective over MPI_COMM_WORLD.
inline void expect_reshards(const fs::path& root, const std::string& ckpt,
                            const std::string& layout, const parallel::MpiCommunicator* group,
                            const std::function<Config(const std::string& run)>& job,
                            double want_step6) {
  const std::string roundtrip = "rt_" + layout, resumed = "next_" + layout;
  copy_run(root, "saved", roundtrip);
  copy_run(root, "saved", resumed);
  if (group) {
    EXPECT_EQ(train::run_lm_training(job(roundtrip), 0, group).steps_done, 5) << layout;
    const auto next = train::run_lm_training(job(resumed), 1, group);
    ASSERT_EQ(next.losses.size(), 1u) << layout;
    EXPECT_LE(std::abs(next.losses[0] - want_step6), kLossRelTol * want_step6)
        << layout << ": step 6 after resharding " << next.losses[0] << " vs " << want_step6;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (mpi_rank() == 0) {
    SCOPED_TRACE("load at " + layout + " and save again");
    expect_same_tensors(ckpt, checkpoint_path((root / roundtrip / "checkpoints").string(), 5));
  }
}

}  // namespace xomni::test
