// The LM stage under interleaved 1F1B (pp = 2, virtual_stages = 2: four virtual stages of one
// layer) against one process: the same loss curve and evaluation loss; the timeline names both
// chunks; checkpoints saved at pp=2 v=2 load at pp=1 and the other way round, with the next
// step's loss of an uninterrupted run; a micro-batch count that is not a multiple of pp, a model
// with fewer layers than virtual stages and a layer split of pp entries stop with the numbers.
#include "check.h"
#include "lm_equivalence.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::test;

namespace {

constexpr int kLayers = 4, kMicro = 4, kSteps = 8;

const std::string kInterleaved = "[parallel]\npp = 2\nvirtual_stages = 2\n";

TEST(LmInterleaved, LossCurveMatchesSingleProcess) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("interleaved");
  const std::string shards = tiny_shards(root);
  const std::vector<double> want =
      single_process_losses(tiny_job(root, shards, "single", kSteps, "", kLayers, kMicro), *world);
  const Config job = tiny_job(root, shards, "pp2_v2", kSteps, kInterleaved + "timeline_step = 2\n",
                              kLayers, kMicro);
  expect_losses_match(train::run_lm_training(job, -1, world.get()).losses, want, "pp2_v2");
  // The timeline of step 2: every (micro-batch, chunk) forward and backward once on each rank.
  const auto events = parallel::read_timeline_jsonl(
      (root / "pp2_v2" / "timeline" / ("rank-0000" + std::to_string(world->rank()) + ".jsonl"))
          .string());
  ASSERT_EQ(events.size(), size_t(2 * 2 * kMicro));
  const auto order = parallel::interleaved_order(world->rank(), 2, 2, kMicro);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].step, 2);
    EXPECT_EQ(events[i].phase, order[i].phase) << i;
    EXPECT_EQ(events[i].micro, order[i].micro) << i;
    EXPECT_EQ(events[i].chunk, order[i].chunk) << i;
  }
}

// Evaluation passes the hidden states around the ring chunk by chunk, without the schedule.
TEST(LmInterleaved, EvaluationMatchesSingleProcess) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("interleaved_eval");
  const std::string shards = tiny_shards(root);
  auto with_eval = [&](const std::string& name, const std::string& extra) {
    train::LmJob job = train::parse_lm_job(tiny_job(root, shards, name, 4, extra, kLayers, kMicro));
    job.data.valid = shards;
    job.data.eval_batches = 2;
    job.trainer.loop.eval_every = 4;
    return job;
  };
  const train::LmJob single = with_eval("eval_single", ""),
                     pp2v2 = with_eval("eval_pp2v2", kInterleaved);
  const std::vector<double> want =
      losses_of_rank0_alone(*world, [&](const parallel::MpiCommunicator* self) {
        return std::vector<double>{train::run_lm_training(single, -1, self).last_eval_loss};
      });
  const double got = train::run_lm_training(pp2v2, -1, world.get()).last_eval_loss;
  ASSERT_EQ(want.size(), 1u);
  ASSERT_GT(want[0], 0) << "the reference run did not evaluate";
  EXPECT_LE(std::abs(got - want[0]), kLossRelTol * want[0]) << got << " vs " << want[0];
}

TEST(LmInterleaved, CheckpointsLoadAtOtherLayouts) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const LayoutCase single{1, 1, false, false, 1, 1};
  auto alone = world->split(world->rank() == 0 ? 0 : -1, world->rank(), "alone");
  for (const bool from_interleaved : {true, false}) {
    const fs::path root =
        shared_fresh_dir(from_interleaved ? "interleaved_saved" : "interleaved_load");
    const std::string shards = tiny_shards(root);
    const std::vector<double> want =
        single_process_losses(tiny_job(root, shards, "ref", 10, "", kLayers, kMicro), *world, 6);
    ASSERT_EQ(want.size(), 6u);
    // Saved at step 5 under one layout, loaded under the other.
    const std::string saved_toml = from_interleaved ? kInterleaved : single.toml();
    const std::string load_toml = from_interleaved ? single.toml() : kInterleaved;
    const parallel::MpiCommunicator* saver = from_interleaved ? world.get() : alone.get();
    const parallel::MpiCommunicator* loader = from_interleaved ? alone.get() : world.get();
    if (saver)
      train::run_lm_training(tiny_job(root, shards, "saved", 10, saved_toml, kLayers, kMicro), 5,
                             saver);
    MPI_Barrier(MPI_COMM_WORLD);
    const std::string ckpt = checkpoint_path((root / "saved" / "checkpoints").string(), 5);
    expect_reshards(
        root, ckpt, from_interleaved ? "pp1" : "pp2_v2", loader,
        [&](const std::string& run) {
          return tiny_job(root, shards, run, 10, load_toml, kLayers, kMicro);
        },
        want[5]);
  }
}

TEST(LmInterleaved, BadMicroBatchCountAndTooFewLayersAreNamed) {
  auto world = world_comm();
  if (world->size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const fs::path root = shared_fresh_dir("interleaved_bad");
  const std::string shards = tiny_shards(root);
  const std::string odd = error_message([&] {
    train::run_lm_training(tiny_job(root, shards, "odd", 5, kInterleaved, kLayers, 3), -1,
                           world.get());
  });
  EXPECT_TRUE(contains(odd, "train.grad_accum = 3 micro-batches is not a multiple of pp = 2"))
      << odd;
  const std::string few = error_message([&] {
    train::run_lm_training(tiny_job(root, shards, "few", 5, kInterleaved, 3, kMicro), -1,
                           world.get());
  });
  EXPECT_TRUE(contains(few,
                       "pp=2 x virtual_stages=2 = 4 virtual stages exceed "
                       "model.num_hidden_layers=3"))
      << few;
  const std::string split = error_message([&] {
    train::run_lm_training(
        tiny_job(root, shards, "split", 5, kInterleaved + "pp_layers = \"2,2\"\n", kLayers, kMicro),
        -1, world.get());
  });
  EXPECT_TRUE(contains(split, "pp_layers has 2 entries but pp=2 x virtual_stages=2 makes 4"))
      << split;
}

}  // namespace
