// DistributedOptimizer with the gradient reduction overlapped with backward against the same
// optimizer without overlap: bitwise the same parameters and losses after several AdamW steps
// (all-reduce and ZeRO-1, several buckets, three micro-batches, a tied parameter used twice, one
// that never gets a gradient, a frozen one), buckets really posted during the last backward
// pass, and a wrong or missing pass count is an error. With ZeRO-1 the parameter all-gather
// overlapped with the next forward pass gives the same bits too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "check.h"
#include "xomni/core/nn/optim.h"
#include "xomni/parallel/distributed_optimizer.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

constexpr int64_t kVocab = 11, kDim = 9, kHidden = 13, kSeq = 6, kMicro = 3;

// "emb.weight" is tied (lookup and head), "unused.weight" gets no gradient, "frozen.weight" is
// used but frozen. f32, so sums in another order would round differently.
std::vector<NamedParam> make_params() {
  const std::vector<std::pair<std::string, Shape>> spec = {
      {"emb.weight", {kVocab, kDim}},  {"unused.weight", {7, 5}},
      {"fc1.weight", {kHidden, kDim}}, {"fc1.bias", {kHidden}},
      {"fc2.weight", {kDim, kHidden}}, {"frozen.weight", {kDim, kDim}},
      {"norm.weight", {kDim}}};
  std::vector<NamedParam> out;
  uint64_t seed = 5;
  for (const auto& [name, shape] : spec) {
    Tensor t = test::uniform(shape, seed++, DType::f64, -0.5, 0.5).to(DType::f32).clone();
    t.set_requires_grad(name != "frozen.weight");
    out.push_back({name, t});
  }
  return out;
}

// Micro-batch `micro` of step `step` on data-parallel rank `rank`: its summed token loss.
Tensor micro_loss(const std::vector<NamedParam>& ps, int step, int rank, int micro) {
  std::map<std::string, Tensor> p;
  for (const NamedParam& np : ps) p[np.name] = np.tensor;
  std::vector<int64_t> ids, targets;
  for (int64_t i = 0; i < kSeq; ++i) {
    ids.push_back((i * 5 + step * 3 + rank * 7 + micro * 2) % kVocab);
    targets.push_back((i * 3 + step + rank * 4 + micro) % kVocab);
  }
  Tensor e = embedding(p.at("emb.weight"), Tensor::from_vector(ids, {kSeq}));
  Tensor h = tanh(linear(e, p.at("fc1.weight"), p.at("fc1.bias")));
  Tensor x = add(linear(h, p.at("fc2.weight")), linear(e, p.at("frozen.weight")));
  x = rms_norm(x, p.at("norm.weight"));
  Tensor logits = linear(x, p.at("emb.weight"));  // the tied head
  return mul(cross_entropy(logits, Tensor::from_vector(targets, {kSeq}), -100, Reduction::sum),
             1.0 / 40.0);
}

AdamWOptions adam() {
  AdamWOptions o;
  o.lr = 0.05, o.weight_decay = 0.1;
  return o;
}

DataParallelOptions options(bool zero, bool overlap, bool gather = false) {
  DataParallelOptions o;
  o.distributed_optimizer = zero;
  o.overlap_grad_reduce = overlap;
  o.overlap_param_gather = gather;
  o.bucket_mb = 50.0 * 4 / (1024.0 * 1024.0);  // ~50 elements: several buckets
  return o;
}

struct TrainRun {
  std::vector<double> losses;
  std::vector<Tensor> params;
  int64_t posted_during_backward = 0;  // collectives posted by the last backward pass, all steps
  int64_t posted_before_last = 0;      // ... by the earlier passes (must stay 0)
  size_t pending_after_step = 0;       // parameters still being gathered when step() returned
};

TrainRun train(Communicator& dp, bool zero, bool overlap, int steps, bool gather = false) {
  std::vector<NamedParam> ps = make_params();
  DistributedOptimizer opt(ps, adam(), dp, options(zero, overlap, gather));
  EXPECT_GT(opt.num_buckets(), 3u);
  TrainRun run;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    opt.expect_backward_passes(kMicro);
    double loss = 0;
    const int64_t seq0 = dp.sequence();
    for (int m = 0; m < kMicro; ++m) {
      if (m == kMicro - 1) run.posted_before_last += dp.sequence() - seq0;
      const int64_t before = dp.sequence();
      Tensor l = micro_loss(ps, s, dp.rank(), m);
      loss += l.item();
      l.backward();
      if (m == kMicro - 1) run.posted_during_backward += dp.sequence() - before;
    }
    opt.reduce_gradients();
    opt.step();
    run.pending_after_step = std::max(run.pending_after_step, opt.pending_parameters());
    run.losses.push_back(loss);
  }
  for (const NamedParam& p : ps) run.params.push_back(p.tensor.detach().clone());
  return run;
}

}  // namespace

TEST(OverlapGradReduce, BitwiseTheBlockingReduction) {
  auto world = mpi_world();
  for (bool zero : {false, true}) {
    const std::string what = zero ? "zero1" : "all-reduce";
    const TrainRun off = train(*world, zero, false, 4);
    const TrainRun on = train(*world, zero, true, 4);
    EXPECT_EQ(off.posted_during_backward, 0) << what;
    EXPECT_EQ(on.posted_before_last, 0) << what << ": posted before the last micro-batch";
    // The last parameters are final early in the last backward: their buckets went out then.
    // (A ZeRO window spans every rank's chunk; at 4 ranks the first one includes part of
    // "unused.weight", which is final only in reduce_gradients(), and holds back every window.)
    if (!zero || world->size() == 2) {
      EXPECT_GT(on.posted_during_backward, 0) << what << ": nothing overlapped";
    }
    ASSERT_EQ(on.losses.size(), off.losses.size());
    for (size_t s = 0; s < on.losses.size(); ++s)
      EXPECT_EQ(on.losses[s], off.losses[s]) << what << " step " << s;
    const std::vector<NamedParam> names = make_params();
    for (size_t i = 0; i < on.params.size(); ++i)
      EXPECT_TRUE(test::same_bits(on.params[i], off.params[i])) << what << " " << names[i].name;
    // The parameters moved (the comparison is not between two untouched copies), except the
    // frozen one; the unused one moves by weight decay only.
    for (size_t i = 0; i < on.params.size(); ++i)
      EXPECT_EQ(test::same_bits(on.params[i], names[i].tensor), names[i].name == "frozen.weight")
          << names[i].name;
  }
}

TEST(OverlapGradReduce, WrongOrMissingPassCountIsAnError) {
  auto world = mpi_world();
  std::vector<NamedParam> ps = make_params();
  DistributedOptimizer opt(ps, adam(), *world, options(false, true));
  ASSERT_TRUE(opt.overlapping());
  // Forgotten announcement: the first backward pass stops.
  opt.zero_grad();
  std::string m = test::error_message([&] { micro_loss(ps, 0, world->rank(), 0).backward(); });
  EXPECT_NE(m.find("number of backward passes was not announced"), std::string::npos) << m;
  // Fewer passes than announced: reduce_gradients refuses before posting anything.
  opt.zero_grad();
  opt.expect_backward_passes(3);
  const int64_t seq = world->sequence();
  for (int k = 0; k < 2; ++k) micro_loss(ps, 0, world->rank(), k).backward();
  m = test::error_message([&] { opt.reduce_gradients(); });
  EXPECT_NE(m.find("announced 3 backward passes (expect_backward_passes) but its parameters saw "
                   "at most 2"),
            std::string::npos)
      << m;
  EXPECT_EQ(world->sequence(), seq);
  // More passes than announced: the extra pass stops at the first parameter it reaches.
  opt.zero_grad();
  EXPECT_THROW(opt.expect_backward_passes(-1), Error);
  opt.expect_backward_passes(1);
  EXPECT_NE(test::error_message([&] { opt.expect_backward_passes(1); }).find("called twice"),
            std::string::npos);
  micro_loss(ps, 0, world->rank(), 0).backward();
  m = test::error_message([&] { micro_loss(ps, 0, world->rank(), 1).backward(); });
  EXPECT_NE(m.find("backward pass 2 reached"), std::string::npos) << m;
  EXPECT_NE(m.find("but the step announced 1"), std::string::npos) << m;
  // 0 turns the overlap off for a step: the plain reduction, which still works after the errors.
  opt.zero_grad();
  opt.expect_backward_passes(0);
  micro_loss(ps, 0, world->rank(), 0).backward();
  opt.reduce_gradients();
  opt.step();
}

// Held parameters (summed by the caller after backward, like tp partial gradients) are packed
// only in reduce_gradients(): a change made to their gradient after backward is what gets
// reduced.
TEST(OverlapGradReduce, HeldParametersArePackedAtReduceTime) {
  auto world = mpi_world();
  std::vector<NamedParam> ps = make_params();
  DistributedOptimizer opt(ps, adam(), *world, options(false, true));
  std::vector<bool> held(ps.size(), false);
  held[ps.size() - 1] = true;  // norm.weight
  opt.hold_until_reduce(held);
  opt.zero_grad();
  opt.expect_backward_passes(1);
  micro_loss(ps, 0, world->rank(), 0).backward();
  Tensor g = ps.back().tensor.grad();
  g.fill_(double(world->rank() + 1));  // the caller's change after backward
  opt.reduce_gradients();
  const int n = world->size();
  for (float v : ps.back().tensor.grad().to_vector<float>()) EXPECT_EQ(v, float(n * (n + 1) / 2));
}

// ZeRO-1 with the parameter all-gather left pending after step(): every trainable parameter
// waits until first touched, the forward pass resolves them, and the result is bitwise the
// blocking gather's, with the reduction overlapped or not.
TEST(OverlapParamGather, BitwiseTheBlockingGather) {
  auto world = mpi_world();
  const TrainRun off = train(*world, true, false, 4);
  EXPECT_EQ(off.pending_after_step, 0u);
  for (bool overlap : {false, true}) {
    const TrainRun on = train(*world, true, overlap, 4, true);
    EXPECT_EQ(on.pending_after_step, make_params().size() - 1) << "all but the frozen one";
    for (size_t s = 0; s < on.losses.size(); ++s)
      EXPECT_EQ(on.losses[s], off.losses[s]) << "overlap " << overlap << " step " << s;
    const std::vector<NamedParam> names = make_params();
    for (size_t i = 0; i < on.params.size(); ++i)
      EXPECT_TRUE(test::same_bits(on.params[i], off.params[i])) << names[i].name;
  }
}

// Touching one parameter waits for and copies out that one only; the rest stay pending until
// touched, finish_parameter_gather(), the next reduction, or the optimizer's end.
TEST(OverlapParamGather, EachParameterResolvesOnItsOwn) {
  auto world = mpi_world();
  // The reference: one blocking step.
  std::vector<NamedParam> ref = make_params();
  {
    DistributedOptimizer opt(ref, adam(), *world, options(true, false));
    opt.zero_grad();
    micro_loss(ref, 0, world->rank(), 0).backward();
    opt.reduce_gradients();
    opt.step();
  }
  for (int ending = 0; ending < 2; ++ending) {
    std::vector<NamedParam> ps = make_params();
    auto opt =
        std::make_unique<DistributedOptimizer>(ps, adam(), *world, options(true, false, true));
    opt->zero_grad();
    micro_loss(ps, 0, world->rank(), 0).backward();
    opt->reduce_gradients();
    opt->step();
    const size_t trainable = ps.size() - 1;
    ASSERT_EQ(opt->pending_parameters(), trainable);
    EXPECT_TRUE(test::same_bits(ps[3].tensor, ref[3].tensor)) << "fc1.bias, touched first";
    EXPECT_EQ(opt->pending_parameters(), trainable - 1);
    if (ending == 0)
      opt->finish_parameter_gather();
    else
      opt.reset();  // the destructor finishes it: parameters outlive their optimizer
    if (opt) {
      EXPECT_EQ(opt->pending_parameters(), 0u);
    }
    for (size_t i = 0; i < ps.size(); ++i)
      EXPECT_TRUE(test::same_bits(ps[i].tensor, ref[i].tensor)) << ps[i].name << " " << ending;
  }
}
