// The reward pool (jobs/rl/reward_pool.h): scores through worker processes of the `xomni` binary
// and through the in-process mode equal RewardSet::score in this process exactly; the workers
// run with OMP_THREAD_LIMIT=1; a missing plugin, a plugin error, a NaN score, a killed worker and
// a missing worker executable each give their clear error instead of a hang or a crash.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "rl/reward_pool.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/reward_set.h"
#include "xomni/world/scene.h"

namespace xomni::rl {
namespace {

const std::string kExe = XOMNI_EXE;
const std::string kProbe = XOMNI_POOL_PROBE;
const std::string kPlugins = XOMNI_BUILD_PLUGIN_DIR;

struct Inputs {
  std::vector<Image> images;
  std::vector<std::string> prompts, metadata;
};

// `n` 64x64 scenes from index `first`; every third one is shown with the next scene's image, so
// that the scene reward both passes and fails.
Inputs scenes(int64_t first, size_t n) {
  Inputs in;
  for (size_t i = 0; i < n; ++i) {
    const int64_t idx = first + int64_t(i);
    const ImageSample s = world::generate_scene(7, idx);
    in.images.push_back(i % 3 == 2 ? world::generate_scene(7, idx + 1).image : s.image);
    in.prompts.push_back(s.captions.at(0));
    in.metadata.push_back(s.metadata_json);
  }
  return in;
}

Inputs probe_inputs(const std::vector<std::string>& prompts) {
  Inputs in;
  for (size_t i = 0; i < prompts.size(); ++i) in.images.emplace_back(4, 4, uint8_t(10 * i), 0, 0);
  in.prompts = prompts;
  return in;
}

plugins::RewardScores score_here(const plugins::RewardSet& set, const Inputs& in) {
  std::vector<XomniImage> views;
  for (const Image& im : in.images)
    views.push_back({im.rgb.data(), int32_t(im.width), int32_t(im.height), im.width * 3});
  return set.score(views, in.prompts, in.metadata);
}

void expect_same(const plugins::RewardScores& got, const plugins::RewardScores& want) {
  EXPECT_EQ(got.sub_score_names, want.sub_score_names);
  EXPECT_EQ(got.scores, want.scores);  // exactly: the same code on the same bytes
  EXPECT_EQ(got.sub_scores, want.sub_scores);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class RewardPoolTest : public test::TempDirTest {
 protected:
  std::string write_rewards(const std::string& name, const std::string& text) {
    const std::string path = sub(name);
    std::ofstream(path) << text;
    return path;
  }
  // scene (weight 1) + contrast (weight 0.5, scale 2): both thread-safe.
  std::string scene_and_contrast() {
    return write_rewards("rewards.toml", "[[rewards]]\nplugin = \"" + kPlugins +
                                             "/libxomni_reward_scene.so\"\n\n"
                                             "[[rewards]]\nplugin = \"" +
                                             kPlugins +
                                             "/libxomni_reward_contrast.so\"\nweight = 0.5\n"
                                             "config = \"scale = 2\"\n");
  }
  std::string probe() {
    return write_rewards("probe.toml", "[[rewards]]\nplugin = \"" + kProbe + "\"\n");
  }
};

TEST_F(RewardPoolTest, WorkersMatchRewardSetExactlyWithBatchesWaitedOutOfOrder) {
  const std::string rewards = scene_and_contrast();
  const plugins::RewardSet here = plugins::RewardSet::load(rewards);
  RewardPool pool({rewards, 2, kExe});
  ASSERT_EQ(pool.worker_pids().size(), 2u);
  EXPECT_EQ(pool.sub_score_names(), here.sub_score_names());
  EXPECT_EQ(
      pool.sub_score_names(),
      (std::vector<std::string>{"scene", "scene.object_found", "scene.count_ok", "scene.color_ok",
                                "scene.position_ok", "scene.clean", "contrast",
                                "contrast.mean_luminance", "contrast.rms_contrast"}));

  const std::vector<Inputs> batches = {scenes(0, 9), scenes(20, 1), scenes(40, 12), {}};
  std::vector<int64_t> tickets;
  for (const Inputs& b : batches) tickets.push_back(pool.submit(b.images, b.prompts, b.metadata));
  double passed = 0;
  for (size_t i : {2, 0, 3, 1}) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const plugins::RewardScores got = pool.wait(tickets[i]);
    const plugins::RewardScores want = score_here(here, batches[i]);
    expect_same(got, want);
    for (size_t j = 0; j < want.scores.size(); ++j) passed += want.sub_scores[j * 9];
  }
  EXPECT_GT(passed, 0);  // the inputs mix passing and failing scenes
  EXPECT_LT(passed, 22);
  EXPECT_THROW(pool.wait(tickets[0]), Error);  // each ticket is waited for once
}

// Each sample's task reaches the worker: scene scores the scenes only, contrast the "text" ones
// (the same images here); NaN marks the columns of a reward that did not score a sample.
TEST_F(RewardPoolTest, TasksReachTheWorkersAndRouteEachSample) {
  const std::string rewards = write_rewards(
      "tasks.toml",
      "[[rewards]]\nplugin = \"" + kPlugins +
          "/libxomni_reward_scene.so\"\ntasks = [\"scene\"]\n\n[[rewards]]\nplugin = \"" +
          kPlugins + "/libxomni_reward_contrast.so\"\ntasks = [\"text\"]\n");
  const plugins::RewardSet here = plugins::RewardSet::load(rewards);
  Inputs in = scenes(0, 5);
  const std::vector<std::string> tasks = {"scene", "text", "scene", "text", "scene"};
  for (size_t i = 0; i < tasks.size(); ++i)
    if (tasks[i] == "text") in.metadata[i] = "{\"text\": \"not a scene\"}";  // scene would refuse
  std::vector<XomniImage> views;
  for (const Image& im : in.images)
    views.push_back({im.rgb.data(), int32_t(im.width), int32_t(im.height), im.width * 3});
  const plugins::RewardScores want = here.score(views, in.prompts, in.metadata, tasks);
  for (int workers : {2, 0}) {
    SCOPED_TRACE(workers ? "worker processes" : "in process");
    RewardPool pool({rewards, workers, kExe});
    const plugins::RewardScores got =
        pool.wait(pool.submit(in.images, in.prompts, in.metadata, tasks));
    EXPECT_EQ(got.scores, want.scores);
    ASSERT_EQ(got.sub_scores.size(), want.sub_scores.size());
    // Bitwise, so NaN equals NaN.
    EXPECT_EQ(std::memcmp(got.sub_scores.data(), want.sub_scores.data(),
                          got.sub_scores.size() * sizeof(float)),
              0);
  }
  const size_t k = want.sub_score_names.size();
  EXPECT_TRUE(std::isnan(want.sub_scores[1 * k]));      // scene on a text sample
  EXPECT_FALSE(std::isnan(want.sub_scores[0 * k]));     // scene on a scene
  EXPECT_TRUE(std::isnan(want.sub_scores[0 * k + 6]));  // contrast on a scene
  EXPECT_FALSE(std::isnan(want.sub_scores[1 * k + 6]));
}

TEST_F(RewardPoolTest, InProcessModeMatchesRewardSetForThreadSafePlugins) {
  const std::string rewards = scene_and_contrast();
  const plugins::RewardSet here = plugins::RewardSet::load(rewards);
  RewardPool pool({rewards, 0, kExe});
  EXPECT_TRUE(pool.worker_pids().empty());
  const Inputs a = scenes(3, 7), b = scenes(30, 4);
  const int64_t ta = pool.submit(a.images, a.prompts, a.metadata);
  const int64_t tb = pool.submit(b.images, b.prompts, b.metadata);
  expect_same(pool.wait(tb), score_here(here, b));
  expect_same(pool.wait(ta), score_here(here, a));
}

TEST_F(RewardPoolTest, WorkersSeeOneOpenMpThreadAndScoreContiguousChunks) {
  // ctest runs this with OMP_NUM_THREADS=2; set a limit too, which the workers must not inherit.
  ::setenv("OMP_THREAD_LIMIT", "5", 1);
  const Inputs in = probe_inputs({"a", "b", "c", "d", "e"});
  std::vector<int> pids;
  plugins::RewardScores s;
  {
    RewardPool pool({probe(), 2, kExe});
    pids = pool.worker_pids();
    ASSERT_EQ(pids.size(), 2u);
    s = pool.wait(pool.submit(in.images, in.prompts, {}));
  }
  // The destructor stopped and reaped both: no zombies.
  for (const int pid : pids) {
    errno = 0;
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "worker " << pid;
    EXPECT_EQ(errno, ECHILD) << "worker " << pid;
  }
  ASSERT_EQ(s.sub_score_names, (std::vector<std::string>{"pool_probe", "pool_probe.omp_num_threads",
                                                         "pool_probe.pid"}));
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(s.scores[i], 1.0f) << "OMP_THREAD_LIMIT of sample " << i;
    EXPECT_EQ(s.sub_scores[3 * i + 1], 1.0f) << "OMP_NUM_THREADS of sample " << i;
    // Chunks of ceil(5 / 2) = 3 and 2 samples, the first batch's first chunk on worker 0.
    EXPECT_EQ(s.sub_scores[3 * i + 2], float(pids[i < 3 ? 0 : 1])) << "pid of sample " << i;
  }
  ::unsetenv("OMP_THREAD_LIMIT");

  // workers = 0 with a plugin that is not thread-safe: one worker process, not this one.
  RewardPool one({probe(), 0, kExe});
  ASSERT_EQ(one.worker_pids().size(), 1u);
  const plugins::RewardScores t = one.wait(one.submit(in.images, in.prompts, {}));
  EXPECT_EQ(t.scores, std::vector<float>(5, 1.0f));
  EXPECT_EQ(t.sub_scores[2], float(one.worker_pids()[0]));
  EXPECT_NE(one.worker_pids()[0], int(::getpid()));
}

TEST_F(RewardPoolTest, KilledWorkerGivesClearErrorNotHang) {
  RewardPool pool({probe(), 2, kExe});
  const std::vector<int> pids = pool.worker_pids();
  // Samples 0..1 go to worker 0, which sleeps on them; worker 1 answers at once.
  const Inputs in = probe_inputs({"sleep", "sleep", "c", "d"});
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t ticket = pool.submit(in.images, in.prompts, {});
  ::usleep(300 * 1000);
  ASSERT_EQ(::kill(pids[0], SIGKILL), 0);
  const std::string message = error_of([&] { pool.wait(ticket); });
  EXPECT_NE(message.find("reward worker " + std::to_string(pids[0]) +
                         " exited (signal 9) while scoring batch " + std::to_string(ticket) +
                         " (samples 0..1 of 4)"),
            std::string::npos)
      << message;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  // Reaped by the pool: no zombie left.
  EXPECT_EQ(::waitpid(pids[0], nullptr, WNOHANG), -1);

  // A worker killed while idle: the next write to it returns EPIPE (SIGPIPE would end this test
  // process) and the batch fails naming it; the dead worker's later chunks fail the same way.
  ASSERT_EQ(::kill(pids[1], SIGKILL), 0);
  ::usleep(100 * 1000);
  const Inputs more = probe_inputs({"a", "b"});
  const int64_t t2 = pool.submit(more.images, more.prompts, {});  // chunk 0 on worker 1
  const std::string second = error_of([&] { pool.wait(t2); });
  EXPECT_NE(second.find("reward worker " + std::to_string(pids[1]) + " exited (signal 9)"),
            std::string::npos)
      << second;
  const std::string third =
      error_of([&] { pool.wait(pool.submit(more.images, more.prompts, {})); });
  EXPECT_NE(third.find("was gone before batch"), std::string::npos) << third;
}

TEST_F(RewardPoolTest, MissingPluginFailsTheConstructorWithTheWorkersMessage) {
  const std::string rewards =
      write_rewards("missing.toml", "[[rewards]]\nplugin = \"no_such_reward_plugin\"\n");
  const std::string here = error_of([&] { plugins::RewardSet::load(rewards); });
  ASSERT_NE(here.find("no_such_reward_plugin"), std::string::npos) << here;
  const std::string message = error_of([&] { RewardPool pool({rewards, 2, kExe}); });
  EXPECT_NE(message.find("could not load " + rewards + ": " + here), std::string::npos) << message;
  EXPECT_EQ(message.rfind("reward worker ", 0), 0u) << message;
}

TEST_F(RewardPoolTest, PluginErrorsAndNanScoresNameThePluginAndSample) {
  const std::string rewards = probe();
  const plugins::RewardSet here = plugins::RewardSet::load(rewards);
  RewardPool pool({rewards, 2, kExe});
  // A NaN in the first chunk: the very message RewardSet gives in this process.
  const Inputs nan_first = probe_inputs({"a", "nan", "c", "d"});
  const std::string want = error_of([&] { score_here(here, nan_first); });
  ASSERT_NE(want.find("returned a non-finite score (nan) for sample 1"), std::string::npos) << want;
  const int64_t t = pool.submit(nan_first.images, nan_first.prompts, {});
  const std::string got = error_of([&] { pool.wait(t); });
  EXPECT_NE(got.find(want), std::string::npos) << got;
  // In the second chunk (samples 2..3) the plugin counts from the chunk; the message says so.
  const Inputs fail_second = probe_inputs({"a", "b", "c", "fail"});
  const std::string failed =
      error_of([&] { pool.wait(pool.submit(fail_second.images, fail_second.prompts, {})); });
  EXPECT_NE(failed.find("reward plugin 'pool_probe'"), std::string::npos) << failed;
  EXPECT_NE(failed.find("probe: asked to fail on sample 1"), std::string::npos) << failed;
  EXPECT_NE(failed.find("count from sample 2"), std::string::npos) << failed;
  // The pool goes on after a plugin error.
  const Inputs ok = probe_inputs({"a", "b", "c"});
  EXPECT_EQ(pool.wait(pool.submit(ok.images, ok.prompts, {})).scores.size(), 3u);
}

TEST_F(RewardPoolTest, MissingWorkerExecutableIsAClearError) {
  const std::string message = error_of([&] {
    RewardPool pool({probe(), 1, sub("no_such_dir/xomni")});
  });
  EXPECT_NE(message.find("'" + sub("no_such_dir/xomni") + "' does not exist"), std::string::npos)
      << message;
  EXPECT_NE(message.find("worker_exe"), std::string::npos) << message;
  // A program that exits at once instead of saying ready.
  const std::string early = error_of([&] { RewardPool pool({probe(), 1, "/bin/true"}); });
  EXPECT_NE(early.find("exited (exit code 0) before reporting ready"), std::string::npos) << early;
}

// Not a check of speed (the machine is shared): prints the best of 5 timings of one batch of 64
// 64x64 scenes scored in this process and through 2 workers (submit to wait), and how long
// submit() itself takes, and checks that both give RewardSet's scores.
TEST_F(RewardPoolTest, TimesABatchOf64ScenesInProcessAndThroughTwoWorkers) {
  const std::string rewards = scene_and_contrast();
  const plugins::RewardSet here = plugins::RewardSet::load(rewards);
  const Inputs in = scenes(100, 64);
  RewardPool pool({rewards, 2, kExe});
  using Clock = std::chrono::steady_clock;
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  double direct = 1e30, pooled = 1e30, submit = 1e30;
  plugins::RewardScores want, got;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    want = score_here(here, in);
    const auto t1 = Clock::now();
    const int64_t ticket = pool.submit(in.images, in.prompts, in.metadata);
    const auto t2 = Clock::now();
    got = pool.wait(ticket);
    const auto t3 = Clock::now();
    direct = std::min(direct, ms(t1 - t0));
    submit = std::min(submit, ms(t2 - t1));
    pooled = std::min(pooled, ms(t3 - t1));
    expect_same(got, want);
  }
  std::printf(
      "64 scenes of 64x64, best of 5: RewardSet::score in this process %.2f ms; "
      "2 workers %.2f ms from submit to wait (submit itself %.3f ms)\n",
      direct, pooled, submit);
}

}  // namespace
}  // namespace xomni::rl
