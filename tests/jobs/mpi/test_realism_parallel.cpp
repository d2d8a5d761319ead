// The realism stage under data parallelism against one process: each rank scores its half of
// every batch and the gradients are summed, so the loss curve matches one process step by step;
// tensor parallelism is refused naming the key.
#include <gtest/gtest.h>

#include "../realism_toy_jobs.h"
#include "check.h"
#include "lm_equivalence.h"
#include "realism/realism_stage.h"

using namespace xomni;
using namespace xomni::test;

namespace {

realism::RealismJob parse(const std::string& text) {
  return realism::parse_realism_job(realism::parse_realism_config(text, "<test job>"));
}

class RealismParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (mpi_size() != 2) GTEST_SKIP() << "compares 2 ranks with one";
    world_ = world_comm();
    root_ = shared_fresh_dir("realism");
    if (mpi_rank() == 0) {
      toy_dataset(root_, "train", 1, 32);
      toy_dataset(root_, "valid", 2, 16);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    train_ = (root_ / "train").string();
    valid_ = (root_ / "valid").string();
  }
  std::unique_ptr<parallel::MpiCommunicator> world_;
  fs::path root_;
  std::string train_, valid_;
};

}  // namespace

TEST_F(RealismParallel, DataParallelMatchesOneProcessAndTensorParallelIsRefused) {
  const std::vector<double> want =
      losses_of_rank0_alone(*world_, [&](const parallel::MpiCommunicator* self) {
        return realism::run_realism_training(parse(toy_job(root_, "one", 8, train_, valid_)), -1,
                                             self)
            .losses;
      });
  const std::string dp2 = toy_job(root_, "dp2", 8, train_, valid_, "[parallel]\ndp = 2\n");
  const train::TrainResult r = realism::run_realism_training(parse(dp2), -1, world_.get());
  expect_losses_match(r.losses, want, "realism dp=2");
  const std::string tp2 = toy_job(root_, "tp2", 8, train_, valid_, "[parallel]\ntp = 2\n");
  const std::string message =
      error_message([&] { realism::run_realism_training(parse(tp2), 1, world_.get()); });
  EXPECT_TRUE(contains(message, "runs data-parallel only; set parallel.tp = 1")) << message;
}
