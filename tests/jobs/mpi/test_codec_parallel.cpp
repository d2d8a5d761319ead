// The codec stages under tensor and data parallelism against one process: the siglip and vq
// stages split their transformer blocks over tp ranks (and the vq stage's LM its vocabulary), and
// the vq stage splits its batches over dp ranks with the LM loss weighted by the tokens of every
// rank; the loss curves match one process step by step.
#include <gtest/gtest.h>

#include <regex>

#include "../codec_toy_jobs.h"
#include "codec/codec_stage.h"
#include "lm_equivalence.h"

using namespace xomni;
using namespace xomni::test;

namespace {

codec::CodecJob parse(const std::string& text) {
  return codec::parse_codec_job(codec::parse_codec_config(text, "<test job>"));
}

// Rank 0 alone runs `text`; every rank gets its losses.
std::vector<double> single_losses(const std::string& text, parallel::MpiCommunicator& world) {
  return losses_of_rank0_alone(world, [&](const parallel::MpiCommunicator* self) {
    return codec::run_codec_training(parse(text), -1, self).losses;
  });
}

class CodecParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (mpi_size() != 2) GTEST_SKIP() << "compares 2 ranks with one";
    world_ = world_comm();
    root_ = shared_fresh_dir("codec");
    if (mpi_rank() == 0) {
      scenes_ = make_scenes(root_, "scenes", 1, 32);
      g_texts = make_texts(root_, 2, 16);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    scenes_ = (root_ / "scenes").string();
    g_texts = (root_ / "texts").string();
  }
  std::unique_ptr<parallel::MpiCommunicator> world_;
  fs::path root_;
  std::string scenes_;
};

}  // namespace

TEST_F(CodecParallel, SiglipTensorParallelMatchesOneProcess) {
  const std::vector<double> want = single_losses(siglip_job(root_, "one", 6, scenes_), *world_);
  const std::string tp2 = siglip_job(root_, "tp2", 6, scenes_) + "[parallel]\ntp = 2\n";
  expect_losses_match(codec::run_codec_training(parse(tp2), -1, world_.get()).losses, want,
                      "siglip tp=2");
}

TEST_F(CodecParallel, VqTensorAndDataParallelMatchOneProcess) {
  // Restarts take rank 0's batch as candidates, not the whole batch: off for the comparison. The
  // pixel head (vq.pixel_weight) is on: a replica under tp, its loss a mean over the dp ranks.
  const auto job = [&](const std::string& name, const std::string& layout) {
    return std::regex_replace(vq_job(root_, name, 6, scenes_, ""), std::regex("restart_every = 2"),
                              "restart_every = 0\npixel_weight = 1.0") +
           layout;
  };
  const std::vector<double> want = single_losses(job("one", ""), *world_);
  expect_losses_match(
      codec::run_codec_training(parse(job("tp2", "[parallel]\ntp = 2\n")), -1, world_.get()).losses,
      want, "vq tp=2");
  expect_losses_match(
      codec::run_codec_training(parse(job("dp2", "[parallel]\ndp = 2\n")), -1, world_.get()).losses,
      want, "vq dp=2");
}

TEST_F(CodecParallel, VqResumesExactlyUnderDataParallelismWithRestarts) {
  // Restarts every 2 steps read the code usage of every rank; a run stopped at step 3 and resumed
  // (usage summed into the checkpoint) must restart the same codes as an uninterrupted one.
  const std::string straight = vq_job(root_, "straight", 6, scenes_, "") + "[parallel]\ndp = 2\n";
  const std::string split = vq_job(root_, "split", 6, scenes_, "") + "[parallel]\ndp = 2\n";
  const std::vector<double> want =
      codec::run_codec_training(parse(straight), -1, world_.get()).losses;
  ASSERT_EQ(want.size(), 6u);
  const std::vector<double> first = codec::run_codec_training(parse(split), 3, world_.get()).losses;
  const std::vector<double> rest = codec::run_codec_training(parse(split), -1, world_.get()).losses;
  ASSERT_EQ(first.size() + rest.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(i < 3 ? first[i] : rest[i - 3], want[i]) << "step " << i + 1;
}
