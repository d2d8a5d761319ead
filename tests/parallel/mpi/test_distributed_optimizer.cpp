// DistributedOptimizer (bucketed all-reduce and ZeRO-1) against one process training the whole
// batch with core AdamW: parameters, gradient norms and optimizer state after every step, the
// coverage of the sharded state, the communication volume, and a state round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "check.h"
#include "xomni/core/nn/optim.h"
#include "xomni/parallel/distributed_optimizer.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

constexpr int kSteps = 5;
constexpr int64_t kBatch = 8, kSeq = 5, kVocab = 13, kDim = 7, kHidden = 10;
constexpr double kLr = 0.02, kMaxNorm = 0.05;

// Odd sizes (399 elements in all) so that shards straddle parameters and rows; "skip.weight" is
// frozen. Order: emb, norm, fc1.weight, fc1.bias, head, skip.
std::vector<NamedParam> make_params(DType dtype) {
  const std::vector<std::pair<std::string, Shape>> spec = {
      {"emb.weight", {kVocab, kDim}},     {"norm.weight", {kDim}},
      {"fc1.weight", {kHidden, kDim}},    {"fc1.bias", {kHidden}},
      {"head.weight", {kVocab, kHidden}}, {"skip.weight", {kVocab, kDim}}};
  std::vector<NamedParam> out;
  uint64_t seed = 11;
  for (const auto& [name, shape] : spec) {
    Tensor t = test::uniform(shape, seed++, DType::f64, -0.5, 0.5);
    if (name == "norm.weight") t = add(t, 1.0);
    t = t.to(dtype).clone();
    t.set_requires_grad();
    out.push_back({name, t});
  }
  return out;
}

std::vector<NamedParam> clone_params(const std::vector<NamedParam>& ps) {
  std::vector<NamedParam> out;
  for (const NamedParam& p : ps) {
    Tensor t = p.tensor.detach().clone();
    t.set_requires_grad(p.tensor.requires_grad());
    out.push_back({p.name, t});
  }
  return out;
}

// Token ids and targets of the global batch, [kBatch * kSeq] each.
std::pair<Tensor, Tensor> global_batch() {
  std::vector<int64_t> ids, targets;
  for (int64_t i = 0; i < kBatch * kSeq; ++i) {
    ids.push_back((i * 5 + i / 3) % kVocab);
    targets.push_back((i * 7 + 3) % kVocab);
  }
  return {Tensor::from_vector(ids, {kBatch * kSeq}), Tensor::from_vector(targets, {kBatch * kSeq})};
}

// Sum of the per-sample losses (token cross-entropy summed over a sample) of samples
// [first, first + count), divided by the global sample count.
Tensor model_loss(const std::vector<NamedParam>& ps, int64_t first, int64_t count) {
  std::map<std::string, Tensor> p;
  for (const NamedParam& np : ps) p[np.name] = np.tensor;
  auto [ids, targets] = global_batch();
  ids = slice(ids, 0, first * kSeq, (first + count) * kSeq).contiguous();
  targets = slice(targets, 0, first * kSeq, (first + count) * kSeq).contiguous();
  Tensor e = embedding(p.at("emb.weight"), ids);
  Tensor h = tanh(linear(rms_norm(e, p.at("norm.weight")), p.at("fc1.weight"), p.at("fc1.bias")));
  Tensor logits = add(linear(h, p.at("head.weight")), linear(e, p.at("skip.weight")));
  return mul(cross_entropy(logits, targets, -100, Reduction::sum), 1.0 / double(kBatch));
}

AdamWOptions adam_options() {
  AdamWOptions o;
  o.lr = kLr, o.beta1 = 0.8, o.beta2 = 0.9, o.eps = 1e-6, o.weight_decay = 0.1;
  o.no_decay_lr_scale = 0.5;
  return o;
}

double lr_at(int k) {
  return kLr * (1.0 - 0.1 * k);
}

// One process, whole batch, core AdamW with clipping; snapshots after every step.
struct Reference {
  std::vector<std::vector<Tensor>> params;           // [step][param]
  std::vector<double> norms;                         // before clipping
  std::vector<std::map<std::string, Tensor>> state;  // AdamW::state() by name
};

Reference run_reference(DType dtype) {
  std::vector<NamedParam> ps = make_params(dtype);
  AdamW opt(ps, adam_options());
  EXPECT_EQ(opt.freeze({"skip.*"}), 1u);
  Reference ref;
  for (int k = 0; k < kSteps; ++k) {
    opt.zero_grad();
    model_loss(ps, 0, kBatch).backward();
    ref.norms.push_back(clip_grad_norm(ps, kMaxNorm));
    opt.set_lr(lr_at(k));
    opt.step();
    std::vector<Tensor> snap;
    for (const NamedParam& p : ps) snap.push_back(p.tensor.detach().clone());
    ref.params.push_back(snap);
    std::map<std::string, Tensor> st;
    for (const NamedParam& e : opt.state()) st[e.name] = e.tensor;
    ref.state.push_back(st);
  }
  return ref;
}

// The greedy bucketing rule, restated: whole parameters from the last, a bucket closes once it
// holds at least `elems` elements.
int64_t expected_allreduce_buckets(const std::vector<NamedParam>& ps, int64_t elems) {
  int64_t buckets = 0, held = 0, left = 0;
  for (size_t i = ps.size(); i-- > 0;) {
    held += ps[i].tensor.numel(), left += ps[i].tensor.numel();
    if (held >= elems) ++buckets, held = 0, left = 0;
  }
  return buckets + (left > 0 ? 1 : 0);
}

struct Config {
  DType dtype;
  bool zero;
  int64_t bucket_elems;  // 0: the default 25 MB
  std::string label() const {
    return std::string(dtype_name(dtype)) + (zero ? " zero1" : " allreduce") + " bucket " +
           std::to_string(bucket_elems);
  }
};

DataParallelOptions dp_options(const Config& c) {
  DataParallelOptions o;
  o.distributed_optimizer = c.zero;
  if (c.bucket_elems > 0)
    o.bucket_mb = double(c.bucket_elems) * double(dtype_size(c.dtype)) / (1024.0 * 1024.0);
  return o;
}

// Trains on `dp`'s share of the batch and compares with `ref` after every step.
void check_against_reference(Communicator& dp, const Config& c, const Reference& ref) {
  SCOPED_TRACE(c.label() + " dp " + std::to_string(dp.size()) + " rank " +
               std::to_string(dp.rank()));
  const double tol = c.dtype == DType::f64 ? 1e-10 : 1e-6;
  // The second moment squares the gradient's rounding differences (measured up to 4e-7 in f32).
  const double moment_tol = c.dtype == DType::f64 ? 1e-10 : 2e-6;
  std::vector<NamedParam> ps = make_params(c.dtype);
  DistributedOptimizer opt(ps, adam_options(), dp, dp_options(c));
  EXPECT_EQ(opt.freeze({"skip.*"}), 1u);
  EXPECT_EQ(opt.sharded(), c.zero && dp.size() > 1);
  EXPECT_TRUE(opt.decays(0) && !opt.decays(1) && opt.decays(2) && !opt.decays(3) && opt.decays(4));
  dp.reset_stats();
  const int64_t per_rank = kBatch / dp.size();
  const std::vector<bool> counted(ps.size(), true);
  for (int k = 0; k < kSteps; ++k) {
    opt.zero_grad();
    model_loss(ps, dp.rank() * per_rank, per_rank).backward();
    opt.reduce_gradients();
    double sq = opt.local_grad_sq(counted);
    if (opt.sharded()) {
      Tensor t = Tensor::scalar(sq, DType::f64);
      dp.all_reduce(t);
      sq = t.item();
    }
    const double norm = std::sqrt(sq);
    EXPECT_NEAR(norm, ref.norms[size_t(k)], tol * ref.norms[size_t(k)]) << "step " << k;
    const double coef = kMaxNorm / (norm + 1e-6);
    EXPECT_LT(coef, 1.0) << "the test means to clip every step";
    opt.scale_gradients(coef);
    opt.set_lr(lr_at(k));
    opt.step();
    for (size_t i = 0; i < ps.size(); ++i)
      test::expect_close(ps[i].tensor, ref.params[size_t(k)][i], tol,
                         ps[i].name + " after step " + std::to_string(k));
  }
  // Communication volume, from the layout alone.
  const CommStats& s = dp.stats();
  const int64_t esz = int64_t(dtype_size(c.dtype)), n = dp.size(), numel = 399;
  const int64_t padded = (numel + n - 1) / n * n;
  const int64_t elems = c.bucket_elems > 0 ? c.bucket_elems : (25 << 20) / esz;
  EXPECT_EQ(opt.flat_numel(), numel);
  const int ar = int(CommOp::all_reduce), rs = int(CommOp::reduce_scatter),
            ag = int(CommOp::all_gather);
  if (n == 1) {
    EXPECT_EQ(s.total_bytes(), 0) << "one rank sends nothing";
  } else if (!c.zero) {
    EXPECT_EQ(int64_t(opt.num_buckets()), expected_allreduce_buckets(ps, elems));
    EXPECT_EQ(s.calls[ar], kSteps * expected_allreduce_buckets(ps, elems));
    EXPECT_EQ(s.bytes[ar], kSteps * numel * esz);
    EXPECT_EQ(s.total_bytes(), s.bytes[ar]);
  } else {
    const int64_t window = std::max<int64_t>(1, elems / n), shard = padded / n;
    const int64_t windows = (shard + window - 1) / window;
    EXPECT_EQ(opt.padded_numel(), padded);
    EXPECT_EQ(opt.shard_numel(), shard);
    EXPECT_EQ(int64_t(opt.num_buckets()), windows);
    EXPECT_EQ(s.calls[rs], kSteps * windows);
    EXPECT_EQ(s.bytes[rs], kSteps * padded * esz);
    EXPECT_EQ(s.calls[ag], kSteps * windows);
    EXPECT_EQ(s.bytes[ag], kSteps * padded * esz);
    EXPECT_EQ(s.calls[ar], kSteps);  // the test's own norm all-reduce, one f64 each
    EXPECT_EQ(s.bytes[ar], kSteps * 8);
    EXPECT_EQ(s.total_bytes(), s.bytes[rs] + s.bytes[ag] + s.bytes[ar]);
  }
  // The state this rank keeps equals the reference's on its ranges; ZeRO ranges cover every
  // element exactly once over the group, otherwise every rank holds everything.
  const std::map<std::string, Tensor>& st = ref.state.back();
  Tensor cover = Tensor::zeros({numel}, DType::f64);
  for (size_t k = 0; k < opt.owned_ranges().size(); ++k) {
    const DistributedOptimizer::Range& r = opt.owned_ranges()[k];
    const std::string& name = ps[r.param].name;
    for (int64_t e = r.begin; e < r.end; ++e)
      cover.data<double>()[opt.param_offset(r.param) + e] += 1.0;
    const std::string where =
        name + " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
    test::expect_close(opt.exp_avg(k), slice(flatten(st.at(name + ".exp_avg")), 0, r.begin, r.end),
                       moment_tol, "exp_avg of " + where);
    test::expect_close(opt.exp_avg_sq(k),
                       slice(flatten(st.at(name + ".exp_avg_sq")), 0, r.begin, r.end), moment_tol,
                       "exp_avg_sq of " + where);
  }
  for (size_t i = 0; i < ps.size(); ++i)
    EXPECT_EQ(opt.param_steps(i), int64_t(st.at(ps[i].name + ".step").item())) << ps[i].name;
  EXPECT_EQ(opt.steps(), kSteps);
  dp.all_reduce(cover);
  const double want = opt.sharded() ? 1.0 : double(n);
  for (int64_t e = 0; e < numel; ++e)
    ASSERT_EQ(cover.data<double>()[e], want)
        << "flat element " << e << " is owned " << cover.data<double>()[e] << " times";
}

std::vector<Config> configs() {
  std::vector<Config> out;
  for (DType dt : {DType::f64, DType::f32})
    for (bool zero : {false, true})
      for (int64_t b : {int64_t(64), int64_t(0)}) out.push_back({dt, zero, b});
  return out;
}

TEST(DistributedOptimizer, MatchesOneProcessAdamW) {
  auto world = mpi_world();
  ASSERT_EQ(kBatch % world->size(), 0) << "the batch must split evenly";
  for (DType dt : {DType::f64, DType::f32}) {
    const Reference ref = run_reference(dt);
    for (const Config& c : configs())
      if (c.dtype == dt) check_against_reference(*world, c, ref);
  }
}

// A group of one (each rank alone): no traffic, and bitwise the parameters of core AdamW after
// core clip_grad_norm, whether the clip coefficient scales the gradients first
// (scale_gradients) or is applied inside the update (step(coef)).
TEST(DistributedOptimizer, SingleRankGroupIsBitwiseCoreAdamW) {
  auto world = mpi_world();
  auto alone = world->split(world->rank(), 0, "dp1");
  ASSERT_EQ(alone->size(), 1);
  for (DType dt : {DType::f32, DType::f64}) {
    const Reference ref = run_reference(dt);
    for (bool zero : {false, true})
      for (bool fused_clip : {false, true}) {
        const Config c{dt, zero, 64};
        if (!fused_clip) check_against_reference(*alone, c, ref);
        // Bitwise: run again and compare the bytes.
        std::vector<NamedParam> ps = make_params(dt);
        DistributedOptimizer opt(ps, adam_options(), *alone, dp_options(c));
        opt.freeze({"skip.*"});
        for (int k = 0; k < kSteps; ++k) {
          opt.zero_grad();
          model_loss(ps, 0, kBatch).backward();
          opt.reduce_gradients();
          const double coef =
              kMaxNorm / (std::sqrt(opt.local_grad_sq(std::vector<bool>(ps.size(), true))) + 1e-6);
          ASSERT_LT(coef, 1.0) << "the test means to clip every step";
          opt.set_lr(lr_at(k));
          if (fused_clip) {
            opt.step(coef);
          } else {
            opt.scale_gradients(coef);
            opt.step();
          }
        }
        for (size_t i = 0; i < ps.size(); ++i) {
          const Tensor& want = ref.params.back()[i];
          EXPECT_EQ(std::memcmp(ps[i].tensor.raw_data(), want.raw_data(),
                                size_t(want.numel()) * dtype_size(dt)),
                    0)
              << ps[i].name << " differs bitwise from core AdamW (" << c.label()
              << (fused_clip ? ", clip inside step" : ", scale_gradients then step") << ")";
        }
      }
  }
}

// A group of one keeps each gradient where backward left it (no flat copy); a trainable
// parameter without a gradient gets zeros and still decays: m = v = 0, so p <- p (1 - lr wd).
TEST(DistributedOptimizer, SingleRankUsesGradientsInPlace) {
  auto world = mpi_world();
  auto alone = world->split(world->rank(), 0, "dp1");
  std::vector<NamedParam> ps = make_params(DType::f64);
  Tensor extra = test::uniform({5, 1}, 98, DType::f64);  // 2-D: in the decay group
  extra.set_requires_grad();
  ps.push_back({"extra.weight", extra});
  const Tensor before = extra.clone();
  DistributedOptimizer opt(ps, adam_options(), *alone, {});
  opt.zero_grad();
  model_loss(ps, 0, kBatch).backward();
  const void* grad0 = ps[0].tensor.grad().raw_data();
  opt.reduce_gradients();
  EXPECT_EQ(ps[0].tensor.grad().raw_data(), grad0) << "the gradient was copied";
  ASSERT_TRUE(extra.grad().defined());
  for (double g : extra.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
  opt.step();
  const std::vector<double> got = extra.to_vector<double>(), was = before.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], was[i] * (1.0 - kLr * 0.1)) << "element " << i;
}

// Moments and step counts copied range by range into a fresh optimizer continue bitwise alike.
TEST(DistributedOptimizer, StateRoundTripContinuesIdentically) {
  auto world = mpi_world();
  for (bool zero : {false, true}) {
    const Config c{DType::f32, zero, 64};
    std::vector<NamedParam> a = make_params(c.dtype);
    DistributedOptimizer opt_a(a, adam_options(), *world, dp_options(c));
    const int64_t per_rank = kBatch / world->size();
    auto train_step = [&](DistributedOptimizer& opt, const std::vector<NamedParam>& ps) {
      opt.zero_grad();
      model_loss(ps, world->rank() * per_rank, per_rank).backward();
      opt.reduce_gradients();
      opt.step();
    };
    for (int k = 0; k < 3; ++k) train_step(opt_a, a);
    std::vector<NamedParam> b = clone_params(a);
    DistributedOptimizer opt_b(b, adam_options(), *world, dp_options(c));
    ASSERT_EQ(opt_b.owned_ranges().size(), opt_a.owned_ranges().size());
    for (size_t k = 0; k < opt_a.owned_ranges().size(); ++k)
      opt_b.set_moments(k, opt_a.exp_avg(k), opt_a.exp_avg_sq(k));
    for (size_t i = 0; i < a.size(); ++i) opt_b.set_param_steps(i, opt_a.param_steps(i));
    opt_b.set_steps(opt_a.steps());
    train_step(opt_a, a);
    train_step(opt_b, b);
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(std::memcmp(a[i].tensor.raw_data(), b[i].tensor.raw_data(),
                            size_t(a[i].tensor.numel()) * 4),
                0)
          << a[i].name << (zero ? " (zero1)" : " (all-reduce)");
    EXPECT_EQ(opt_b.steps(), 4);
  }
}

// A parameter only rank 0's samples use has no gradient elsewhere: it counts as zeros, so the
// sum is the one-process gradient.
TEST(DistributedOptimizer, MissingGradientCountsAsZeros) {
  auto world = mpi_world();
  const Tensor x = test::uniform({5}, 99, DType::f64);
  auto with_extra = [](std::vector<NamedParam> ps) {
    Tensor extra = test::uniform({5}, 98, DType::f64);
    extra.set_requires_grad();
    ps.push_back({"extra.weight", extra});
    return ps;
  };
  auto loss = [&](const std::vector<NamedParam>& ps, int64_t first, int64_t count, bool extra) {
    Tensor l = model_loss(ps, first, count);
    return extra ? add(l, mul(sum(mul(ps.back().tensor, x)), 1.0 / double(kBatch))) : l;
  };
  std::vector<NamedParam> ref = with_extra(make_params(DType::f64));
  AdamW ref_opt(ref, adam_options());
  for (bool zero : {false, true}) {
    const Config c{DType::f64, zero, 64};
    std::vector<NamedParam> ps = with_extra(make_params(DType::f64));
    DistributedOptimizer opt(ps, adam_options(), *world, dp_options(c));
    const int64_t per_rank = kBatch / world->size();
    for (int k = 0; k < 3; ++k) {
      opt.zero_grad();
      loss(ps, world->rank() * per_rank, per_rank, world->rank() == 0).backward();
      EXPECT_EQ(ps.back().tensor.grad().defined(), world->rank() == 0);
      opt.reduce_gradients();
      opt.step();
      if (!zero) {  // one reference run serves both configurations
        ref_opt.zero_grad();
        loss(ref, 0, kBatch, true).backward();
        ref_opt.step();
      }
    }
    for (size_t i = 0; i < ps.size(); ++i)
      test::expect_close(ps[i].tensor, ref[i].tensor, 1e-10,
                         ps[i].name + (zero ? " (zero1)" : " (all-reduce)"));
  }
}

TEST(DistributedOptimizer, MisuseIsAnError) {
  auto world = mpi_world();
  std::vector<NamedParam> ps = make_params(DType::f32);
  DistributedOptimizer opt(ps, adam_options(), *world, {});
  EXPECT_NE(test::error_message([&] { opt.step(); }).find("reduce_gradients"), std::string::npos);
  EXPECT_NE(test::error_message([&] { opt.freeze({"nope.*"}); }).find("matches no parameter"),
            std::string::npos);
  EXPECT_NE(
      test::error_message([&] { opt.set_moments(999, Tensor(), Tensor()); }).find("out of bounds"),
      std::string::npos);
  std::vector<NamedParam> mixed = make_params(DType::f32);
  mixed[1].tensor = mixed[1].tensor.detach().to(DType::f64).clone();
  EXPECT_NE(test::error_message([&] {
              DistributedOptimizer bad(mixed, {}, *world, {});
            }).find("share a dtype"),
            std::string::npos);
}

}  // namespace
