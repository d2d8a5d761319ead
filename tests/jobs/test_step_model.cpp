// jobs/plan's step model against closed forms and the code it models: parameter counts against
// the plugins' built models, the 1F1B bubble, ZeRO-1's share of the optimizer state, the
// overlaps, attention and GEMM rates from a device file, the enumeration's validity, and the
// job and device file parsers' errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "check.h"
#include "lm/lm_components.h"
#include "plan/step_model.h"

using namespace xomni;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t built_parameters(const std::string& job_path) {
  const train::LmJob job = train::parse_lm_job(train::load_lm_config(job_path));
  int64_t n = 0;
  for (const nn::ParamInfo& p : train::make_backbone(job.model, 1)->parameter_infos())
    n += p.tensor.numel();
  return n;
}

const std::string kJobs = XOMNI_JOBS_DIR;

TEST(StepModel, ParameterCountsEqualTheBuiltModels) {
  for (const char* name : {"/tiny/lm.toml", "/tiny/xomni_s1.toml"}) {
    SCOPED_TRACE(name);
    const plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + name), name);
    EXPECT_EQ(plan::total_parameters(job.model), built_parameters(kJobs + name));
  }
  // Pipeline stages and tp pieces add up to the whole (untied heads, tp divides everything).
  plan::PlanJob j = plan::plan_job_from_toml(read(kJobs + "/tiny/xomni_s1.toml"), "s1");
  int64_t sum = 0;
  const parallel::Layout l{1, 1, 1, 3};
  for (int s = 0; s < 3; ++s) sum += plan::stage_parameters(j.model, l, s);
  EXPECT_EQ(sum, plan::total_parameters(j.model));
  // tp=2: everything but the replicated norm weights halves.
  const int64_t norms = (2 * j.model.layers + 2) * j.model.hidden;
  EXPECT_EQ(plan::stage_parameters(j.model, {2, 1, 1, 1}, 0),
            (plan::total_parameters(j.model) - norms) / 2 + norms);
}

TEST(StepModel, BubbleIsOneF1BsClosedForm) {
  EXPECT_DOUBLE_EQ(plan::bubble_fraction(1, 8), 0.0);
  EXPECT_DOUBLE_EQ(plan::bubble_fraction(4, 8), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(plan::bubble_fraction(4, 8, 2), 3.0 / 19.0);
  EXPECT_THROW(plan::bubble_fraction(0, 8), Error);
  plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + "/tiny/xomni_s1.toml"), "s1");
  job.micro_batches = 6;
  const plan::StepPrediction p = plan::predict_step(job, {1, 1, 1, 3}, plan::device_spec("h100"));
  EXPECT_DOUBLE_EQ(p.bubble_fraction, 2.0 / 8.0);
  // The bubble's time is the busy time times (p-1)/m.
  EXPECT_NEAR(p.bubble_s, p.compute_s * 2.0 / 6.0, 1e-12 * p.compute_s);
}

// Interleaved 1F1B: rank s holds virtual stages s, s+p, ... of split_layers over p*v, and at its
// peak the schedule's warm-up + 1 (micro-batch, chunk) pairs.
TEST(StepModel, VirtualStagesSplitLayersAndActivations) {
  plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + "/tiny/lm.toml"), "lm");
  job.model.layers = 10;
  const parallel::Layout l{1, 1, 1, 2};
  // split_layers(10, 4) = 2, 3, 3, 2: rank 0 holds virtual stages 0 and 2, rank 1 stages 1 and 3.
  EXPECT_EQ(plan::stage_layer_count(job.model, l, 0, 2), 2 + 3);
  EXPECT_EQ(plan::stage_layer_count(job.model, l, 1, 2), 3 + 2);
  // v = 1: split_layers(10, 2) = 5, 5.
  EXPECT_EQ(plan::stage_layer_count(job.model, l, 0), 5);
  job.micro_batches = 8;
  const parallel::Layout l4{1, 1, 1, 4};
  EXPECT_EQ(plan::activations_in_flight(job, l4, 0), 4);  // 1F1B: min(p - s, m)
  EXPECT_EQ(plan::activations_in_flight(job, l4, 3), 1);
  job.virtual_stages = 2;
  EXPECT_EQ(plan::activations_in_flight(job, l4, 0), 2 * 3 + 4 + 1);
  EXPECT_EQ(plan::activations_in_flight(job, l4, 3), 0 + 4 + 1);
  job.micro_batches = 4;
  EXPECT_EQ(plan::activations_in_flight(job, l4, 0), 8);  // capped at m v
}

TEST(StepModel, ZeroOneDividesTheOptimizerStateByDp) {
  const plan::PlanJob base = plan::plan_job_from_toml(read(kJobs + "/tiny/lm.toml"), "lm");
  const plan::DeviceSpec dev = plan::device_spec("h100");
  plan::PlanJob z = base;
  z.zero1 = true;
  const int64_t n = plan::total_parameters(base.model);
  for (int dp : {2, 4, 8}) {
    SCOPED_TRACE(dp);
    const parallel::Layout l{1, 1, dp, 1};
    const plan::MemoryBreakdown plain = plan::predict_memory(base, l, 0, dev);
    const plan::MemoryBreakdown sharded = plan::predict_memory(z, l, 0, dev);
    EXPECT_DOUBLE_EQ(plain.optimizer, 2.0 * 4.0 * double(n));  // AdamW's two f32 moments
    // The shard holds both moments, its gradient and its parameters: 4 x padded / dp elements.
    const int64_t shard = (n + dp - 1) / dp;
    EXPECT_DOUBLE_EQ(sharded.optimizer, 4.0 * 4.0 * double(shard));
    EXPECT_DOUBLE_EQ(sharded.parameters, plain.parameters);
  }
}

// Each overlap hides its own collectives only: the reduction behind the last backward pass, the
// ZeRO-1 parameter all-gather behind the first forward pass, and neither on a device that
// cannot overlap.
TEST(StepModel, OverlapsHideTheirOwnCollectives) {
  plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + "/tiny/lm.toml"), "lm");
  job.zero1 = true;
  plan::DeviceSpec dev = plan::device_spec("cpu");
  const parallel::Layout l{1, 1, 2, 1};
  auto comm = [&](bool reduce, bool gather) {
    plan::PlanJob j = job;
    j.overlap_grad_reduce = reduce, j.overlap_param_gather = gather;
    return plan::predict_step(j, l, dev).comm_s;
  };
  const plan::StepPrediction off = [&] {
    plan::PlanJob j = job;
    j.overlap_grad_reduce = j.overlap_param_gather = false;
    return plan::predict_step(j, l, dev);
  }();
  // The blocking step's dp collectives, priced one by one.
  double gather = 0, reduce = 0;
  for (const plan::CollectiveBytes& x : off.comm) {
    if (x.group != "dp+cp" || x.bytes <= 64) continue;
    const double t = dev.intra_latency * double(x.calls) + double(x.bytes) / 2.0 / dev.intra_bw;
    (x.op == parallel::CommOp::all_gather ? gather : reduce) += t;
  }
  ASSERT_GT(gather, 0);
  ASSERT_GT(reduce, 0);
  const double micro = off.compute_s / double(job.micro_batches);
  const double forward = micro / 3.0, backward = micro * 2.0 / 3.0;
  EXPECT_NEAR(off.comm_s - comm(false, true), std::min(gather, forward), 1e-12);
  EXPECT_NEAR(off.comm_s - comm(true, false), std::min(reduce, backward), 1e-12);
  EXPECT_NEAR(off.comm_s - comm(true, true), std::min(gather, forward) + std::min(reduce, backward),
              1e-12);
  dev.overlap_dp = false;
  EXPECT_EQ(comm(true, true), off.comm_s);
}

// A device file written by device_toml reads back the same, and the GEMM rate at a micro-batch's
// rows is the calibrated table's, linear in log(rows) between its sizes and flat beyond them.
TEST(StepModel, DeviceFileRowsTableRoundTripsAndInterpolates) {
  plan::DeviceSpec d = plan::device_spec("cpu");
  d.achievable = 0.8;
  d.achievable_by_rows = {{128, 0.5}, {512, 0.7}, {1024, 0.8}};
  d.attention_achievable = 0.25;
  d.memory_cores = 1.5;
  const std::string path = ::testing::TempDir() + "/device_rows.toml";
  std::ofstream(path) << plan::device_toml(d);
  const plan::DeviceSpec r = plan::read_device_file(path);
  EXPECT_EQ(r.achievable_by_rows, d.achievable_by_rows);
  EXPECT_EQ(r.attention_achievable, 0.25);
  EXPECT_EQ(r.memory_cores, 1.5);
  const double peak = d.peak_flops_fp32;
  EXPECT_DOUBLE_EQ(r.achieved_flops(false, 512), 0.7 * peak);
  EXPECT_DOUBLE_EQ(r.achieved_flops(false, 256), 0.6 * peak);  // halfway in log(rows)
  EXPECT_NEAR(r.achieved_flops(false, 724), (0.7 + 0.5 * std::log2(724.0 / 512.0) * 0.2) * peak,
              1e-6 * peak);
  EXPECT_DOUBLE_EQ(r.achieved_flops(false, 16), 0.5 * peak);
  EXPECT_DOUBLE_EQ(r.achieved_flops(false, 4096), 0.8 * peak);
  EXPECT_DOUBLE_EQ(r.achieved_flops(false), 0.8 * peak);              // the job's own size
  EXPECT_DOUBLE_EQ(r.achieved_flops(true, 128), 0.8 * d.peak_flops);  // bf16: no fp32 table
  EXPECT_DOUBLE_EQ(r.achieved_attention_flops(false), 0.25 * peak);

  auto error_for = [&](const std::string& extra) {
    const std::string bad = ::testing::TempDir() + "/device_bad.toml";
    plan::DeviceSpec base = plan::device_spec("cpu");
    base.achievable_by_rows.clear();
    std::istringstream lines(plan::device_toml(base));
    std::ofstream out(bad);
    for (std::string line; std::getline(lines, line);)  // the key under test comes from `extra`
      if (line.rfind("attention_achievable", 0) != 0) out << line << "\n";
    out << extra;
    out.close();
    return test::error_message([&] { plan::read_device_file(bad); });
  };
  EXPECT_NE(error_for("gemm_rows = [128]\n").find("come together"), std::string::npos);
  EXPECT_NE(error_for("gemm_rows = [512, 128]\ngemm_achievable = [0.5, 0.6]\n").find("ascending"),
            std::string::npos);
  EXPECT_NE(error_for("gemm_rows = [128]\ngemm_achievable = [0.5, 0.6]\n").find("equally long"),
            std::string::npos);
  EXPECT_NE(error_for("attention_achievable = -1\n").find("attention_achievable"),
            std::string::npos);
}

// Attention runs at its own rate where the device has one: the compute time grows by exactly its
// FLOPs priced at that rate instead of the GEMMs'.
TEST(StepModel, AttentionAtItsOwnRate) {
  const plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + "/tiny/lm.toml"), "lm");
  plan::DeviceSpec dev = plan::device_spec("cpu");
  dev.achievable_by_rows.clear();
  const parallel::Layout one{1, 1, 1, 1};
  dev.attention_achievable = 0;
  const double base = plan::predict_step(job, one, dev).compute_s;
  dev.attention_achievable = dev.achievable / 4;
  const double slower = plan::predict_step(job, one, dev).compute_s;
  const plan::PlanModel& m = job.model;
  const double f_attention = double(m.layers) * 12.0 * double(m.hidden) * double(job.seq_len) /
                             2.0 * double(job.tokens_per_step());
  const double rate = dev.achieved_flops(false);
  EXPECT_NEAR(slower - base, f_attention * (4.0 / rate - 1.0 / rate), 1e-9 * slower);
}

TEST(StepModel, EnumerationKeepsOnlyValidLayouts) {
  const plan::PlanJob job = plan::plan_job_from_toml(read(kJobs + "/tiny/xomni_s1.toml"), "s1");
  plan::SearchOptions o;
  o.devices = 8;
  const auto plans = plan::enumerate_plans(job, o, plan::device_spec("h100"));
  ASSERT_FALSE(plans.empty());
  bool saw_pp = false, saw_tp = false;
  for (const plan::PlanCandidate& c : plans) {
    const parallel::Layout& l = c.layout;
    EXPECT_EQ(l.world(), 8);
    EXPECT_EQ(job.model.heads % l.tp, 0);
    EXPECT_EQ(job.model.kv_heads % l.tp, 0);
    EXPECT_EQ(job.model.mm_vocab % l.tp, 0);
    EXPECT_LE(l.pp, job.model.layers);
    EXPECT_EQ(c.job.batch_size % l.dp, 0);
    EXPECT_EQ(c.job.batch_size * c.job.micro_batches, job.batch_size * job.micro_batches);
    EXPECT_FALSE(c.job.zero1 && l.dp * l.cp == 1);
    EXPECT_EQ(plan::layout_problem(c.job, l), "");
    saw_pp |= l.pp > 1;
    saw_tp |= l.tp > 1;
  }
  EXPECT_TRUE(saw_pp && saw_tp);
  // kv heads = 2: tp = 4 and 8 are not layouts of this model.
  for (const plan::PlanCandidate& c : plans) EXPECT_LE(c.layout.tp, 2);
  // Ranked: the fitting ones fastest first.
  for (size_t i = 1; i < plans.size(); ++i) {
    if (!plans[i].fits || !plans[i - 1].fits) continue;
    EXPECT_LE(plans[i - 1].prediction.step_s, plans[i].prediction.step_s);
  }
}

TEST(StepModel, JobErrorsNameTheKey) {
  const std::string ok =
      "[model]\nvocab_size = 64\nhidden_size = 32\nintermediate_size = 64\n"
      "num_hidden_layers = 2\nnum_attention_heads = 4\nnum_key_value_heads = 2\n";
  EXPECT_NO_THROW(plan::plan_job_from_toml(ok, "j.toml"));
  EXPECT_TRUE(test::contains(
      test::error_message([] { plan::plan_job_from_toml("[model]\nvocab_size = 64\n", "j.toml"); }),
      "j.toml: model.num_hidden_layers is missing"));
  EXPECT_TRUE(test::contains(test::error_message([&] {
                               plan::plan_job_from_toml(ok + "[train]\nseq_len = -3\n", "j.toml");
                             }),
                             "train.seq_len must be a positive integer"));
  EXPECT_TRUE(test::contains(
      test::error_message([] { plan::plan_job_from_toml("[model\n", "j.toml"); }), "j.toml:1"));
  EXPECT_TRUE(test::contains(test::error_message([] { plan::device_spec("tpu"); }),
                             "unknown device 'tpu'"));
}

}  // namespace
