// Tensor-parallel Qwen2 against one process, at the level of one forward/backward: the gathered
// logits, the loss and every gathered parameter gradient match the single-process model built
// from the same seed, with and without sequence parallelism, and with data parallelism beside
// tensor parallelism. Also the vocab-parallel cross-entropy and embedding alone.
#include <gtest/gtest.h>

#include <memory>

#include "check.h"
#include "lm_job_fixture.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/topology.h"
#include "xomni/qwen2/model.h"

using namespace xomni;
using namespace xomni::test;

namespace {

qwen2::Config tiny_config() {
  qwen2::Config c;
  c.vocab_size = 48;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.tie_word_embeddings = false;
  return c;
}

// The global tensor from every tp rank's piece along `dim`.
Tensor gather_pieces(const Tensor& piece, int dim, parallel::Communicator& tp) {
  std::vector<int64_t> order{dim};
  for (int64_t d = 0; d < piece.dim(); ++d)
    if (d != dim) order.push_back(d);
  const Tensor front = permute(piece, order).contiguous();
  Shape full = front.shape();
  full[0] *= tp.size();
  Tensor out = Tensor::empty(full, piece.dtype());
  tp.all_gather(front, out);
  std::vector<int64_t> back(size_t(piece.dim()));
  for (size_t i = 0; i < order.size(); ++i) back[size_t(order[i])] = int64_t(i);
  return permute(out, back).contiguous();
}

struct Case {
  int tp, dp;
  bool sp;
};

// ids [4, 16] of a fixed batch, targets with a few ignored positions.
// Returns how many targets count in the loss.
int64_t batch(Tensor& ids, Tensor& targets) {
  Generator gen(3);
  ids = mul(rand({4, 16}, gen, DType::f64), 47.999).to(DType::i64);
  Tensor t = mul(rand({4, 16}, gen, DType::f64), 47.999).to(DType::i64);
  std::vector<int64_t> v = t.to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); i += 7) v[i] = -100;
  targets = Tensor::from_vector(v, {4, 16});
  int64_t counted = 0;
  for (int64_t id : v) counted += id != -100;
  return counted;
}

TEST(TpModel, GradientsMatchSingleProcess) {
  const int world_size = mpi_size();
  std::vector<Case> cases = {{world_size, 1, false}, {world_size, 1, true}};
  if (world_size == 4) cases.push_back({2, 2, true});
  if (world_size == 8) cases = {{4, 2, false}, {2, 4, true}};
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  auto world = parallel::mpi_world(opt);
  const qwen2::Config cfg = tiny_config();
  Tensor ids, targets;
  const int64_t counted = batch(ids, targets);

  // One process: mean loss over counted tokens.
  qwen2::CausalLM ref(cfg, 9);
  const Tensor ref_logits = ref(ids);
  Tensor ref_loss = cross_entropy(reshape(ref_logits, {64, 48}), reshape(targets, {64}));
  ref_loss.backward();

  for (const Case& c : cases) {
    SCOPED_TRACE("tp=" + std::to_string(c.tp) + " dp=" + std::to_string(c.dp) +
                 (c.sp ? " sequence-parallel" : ""));
    parallel::ProcessGroups groups(*world, parallel::Layout{c.tp, 1, c.dp, 1});
    parallel::TensorParallel tp{&groups.tp(), c.sp};
    qwen2::CausalLM lm(cfg, 9, tp);
    // This dp rank's rows.
    const int64_t rows = 4 / c.dp, r0 = groups.coord().dp * rows;
    const Tensor my_ids = slice(ids, 0, r0, r0 + rows),
                 my_targets = slice(targets, 0, r0, r0 + rows);
    const Tensor logits = lm(my_ids);
    EXPECT_EQ(logits.size(2), 48 / c.tp);
    const Tensor per_token = parallel::vocab_parallel_cross_entropy(
        reshape(logits, {rows * 16, 48 / c.tp}), reshape(my_targets, {rows * 16}), lm.vocab_start(),
        tp);
    Tensor loss = mul(sum(per_token), 1.0 / double(counted));
    loss.backward();

    // Forward: this rank's rows of the logits, gathered over tp.
    expect_close(gather_pieces(logits.detach(), 2, groups.tp()),
                 slice(ref_logits, 0, r0, r0 + rows).detach(), 1e-5, "logits");
    Tensor total = loss.detach().clone();
    if (c.dp > 1) groups.dp().all_reduce(total);
    EXPECT_NEAR(total.item(), ref_loss.item(), 2e-6 * ref_loss.item());

    for (const nn::ParamInfo& p : lm.parameter_infos()) {
      Tensor g = p.tensor.grad().contiguous().clone();
      if (p.sharding.partial_grad) groups.tp().all_reduce(g);
      if (c.dp > 1) groups.dp().all_reduce(g);
      if (p.sharding.sharded()) g = gather_pieces(g, p.sharding.dim, groups.tp());
      expect_close(g, ref.parameter(p.name).grad(), 1e-5, p.name);
    }
  }
}

// The head fused with the loss (stage_token_nll: vocabulary-parallel, the hidden states gathered
// first under sequence parallelism), tied and untied, against one process's unfused loss: the
// per-token nll and every gathered parameter gradient.
TEST(TpModel, FusedHeadLossMatchesSingleProcess) {
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  auto world = parallel::mpi_world(opt);
  // tp up to 4 (the tiny model's 4 KV heads); further ranks are data-parallel replicas.
  const int tp_size = std::min(world->size(), 4);
  parallel::ProcessGroups groups(*world, parallel::Layout{tp_size, 1, world->size() / tp_size, 1});
  Tensor ids, targets;
  batch(ids, targets);
  for (bool tied : {false, true}) {
    qwen2::Config cfg = tiny_config();
    cfg.tie_word_embeddings = tied;
    qwen2::CausalLM ref(cfg, 9);
    const Tensor ref_nll = ref.token_nll(ref(ids), targets);
    sum(ref_nll).backward();
    for (bool sp : {false, true}) {
      SCOPED_TRACE(std::string(tied ? "tied" : "untied") + (sp ? " sequence-parallel" : ""));
      parallel::TensorParallel tp{&groups.tp(), sp};
      qwen2::CausalLM lm(cfg, 9, tp);
      const Tensor nll = lm.stage_token_nll(ids, targets, {});
      sum(nll).backward();
      expect_close(nll, ref_nll, 1e-5, "nll");
      for (const nn::ParamInfo& p : lm.parameter_infos()) {
        Tensor g = p.tensor.grad().contiguous().clone();
        if (p.sharding.partial_grad) groups.tp().all_reduce(g);
        if (p.sharding.sharded()) g = gather_pieces(g, p.sharding.dim, groups.tp());
        expect_close(g, ref.parameter(p.name).grad(), 1e-5, p.name);
      }
    }
  }
}

// Prefix embeddings under tensor parallelism, with and without sequence parallelism: the gathered
// logits and the prefix's gradient (whole on every rank: the prefix is replicated) match one
// process. Under context parallelism a prefix is refused.
TEST(TpModel, PrefixEmbeddingsMatchSingleProcess) {
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  auto world = parallel::mpi_world(opt);
  const qwen2::Config cfg = tiny_config();
  Tensor ids, targets;
  const int64_t counted = batch(ids, targets);
  const int64_t P = 4;  // prefix 4 + ids 12 = 16 positions, divisible by 2, 4 and 8
  const Tensor tail = slice(ids, 1, P, 16).contiguous();
  Generator gen(11);
  const Tensor prefix_values = mul(randn({4, P, cfg.hidden_size}, gen), 0.02);

  qwen2::CausalLM ref(cfg, 9);
  Tensor ref_prefix = prefix_values.clone();
  ref_prefix.set_requires_grad();
  qwen2::ForwardOptions ref_opt;
  ref_opt.prefix_embeddings = ref_prefix;
  const Tensor ref_logits = ref(tail, ref_opt);
  ASSERT_EQ(ref_logits.shape(), (Shape{4, 16, 48}));
  Tensor ref_loss = cross_entropy(reshape(ref_logits, {64, 48}), reshape(targets, {64}));
  ref_loss.backward();

  // tp over the whole world (4 at 8 ranks: the model has 4 key/value heads; each dp replica then
  // runs the whole batch).
  const int tp_size = world->size() == 8 ? 4 : world->size();
  parallel::ProcessGroups groups(*world, parallel::Layout{tp_size, 1, world->size() / tp_size, 1});
  for (bool sp : {false, true}) {
    SCOPED_TRACE("tp=" + std::to_string(tp_size) + (sp ? " sequence-parallel" : ""));
    parallel::TensorParallel tp{&groups.tp(), sp};
    qwen2::CausalLM lm(cfg, 9, tp);
    Tensor prefix = prefix_values.clone();
    prefix.set_requires_grad();
    plugins::BackboneInputs in;  // through the plugin interface
    in.prefix_embeddings = prefix;
    const Tensor logits = lm.logits(tail, in);
    ASSERT_EQ(logits.shape(), (Shape{4, 16, 48 / tp_size}));
    const Tensor per_token = parallel::vocab_parallel_cross_entropy(
        reshape(logits, {64, 48 / tp_size}), reshape(targets, {64}), lm.vocab_start(), tp);
    Tensor loss = mul(sum(per_token), 1.0 / double(counted));
    loss.backward();
    expect_close(gather_pieces(logits.detach(), 2, groups.tp()), ref_logits.detach(), 1e-5,
                 "logits");
    EXPECT_NEAR(loss.item(), ref_loss.item(), 2e-6 * ref_loss.item());
    expect_close(prefix.grad(), ref_prefix.grad(), 1e-5, "prefix gradient");
  }

  qwen2::CausalLM cp_lm(cfg, 9, qwen2::Placement{{}, world.get(), 0, -1});
  qwen2::ForwardOptions cp_opt;
  cp_opt.prefix_embeddings = prefix_values;
  cp_opt.positions = Tensor::arange(16, DType::i64);
  const std::string m = error_message([&] { cp_lm(tail, cp_opt); });
  EXPECT_TRUE(contains(m, "context parallelism")) << m;
}

// Context parallelism (every rank of the world one cp rank) and two pipeline stages: each rank's
// gradients (summed over cp) equal the one-process model's for the parameters it holds.
TEST(TpModel, ContextAndPipelineGradientsMatchSingleProcess) {
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  auto world = parallel::mpi_world(opt);
  const qwen2::Config cfg = tiny_config();
  Tensor ids, targets;
  const int64_t counted = batch(ids, targets);
  qwen2::CausalLM ref(cfg, 9);
  Tensor ref_loss = cross_entropy(reshape(ref(ids), {64, 48}), reshape(targets, {64}));
  ref_loss.backward();
  auto expect_grads_match = [&](const qwen2::CausalLM& lm, parallel::Communicator* sum_over) {
    for (const nn::ParamInfo& p : lm.parameter_infos()) {
      Tensor g = p.tensor.grad().contiguous().clone();
      if (sum_over) sum_over->all_reduce(g);
      expect_close(g, ref.parameter(p.name).grad(), 1e-5, p.name);
    }
  };

  {  // cp = world size: this rank's zigzag tokens, positions kept global
    SCOPED_TRACE("cp=" + std::to_string(world->size()));
    const int cp = world->size(), r = world->rank();
    const Tensor positions = expand(unsqueeze(Tensor::arange(16, DType::i64), 0), {4, 16});
    const Tensor my_ids = parallel::zigzag_take(ids, 1, cp, r);
    const Tensor my_targets = parallel::zigzag_take(targets, 1, cp, r);
    qwen2::ForwardOptions fo;
    fo.positions = parallel::zigzag_take(positions.contiguous(), 1, cp, r);
    fo.segment_ids = Tensor::zeros(my_ids.shape(), DType::i64);
    qwen2::CausalLM lm(cfg, 9, qwen2::Placement{{}, world.get(), 0, -1});
    const int64_t n = my_ids.numel();
    Tensor loss = mul(cross_entropy(reshape(lm(my_ids, fo), {n, 48}), reshape(my_targets, {n}),
                                    -100, Reduction::sum),
                      1.0 / double(counted));
    loss.backward();
    expect_grads_match(lm, world.get());
  }
  if (world->size() == 2) {  // pp = 2: layer 0 + embedding, then layer 1 + head
    SCOPED_TRACE("pp=2");
    const int stage = world->rank();
    qwen2::CausalLM lm(cfg, 9, qwen2::Placement{{}, nullptr, stage, stage + 1});
    if (stage == 0) {
      const Tensor hidden = lm(ids);
      world->send(hidden.contiguous(), 1);
      Tensor grad = Tensor::empty(hidden.shape());
      world->recv(grad, 1);
      run_backward({hidden}, {grad});
    } else {
      Tensor hidden = Tensor::empty({4, 16, cfg.hidden_size});
      world->recv(hidden, 0);
      hidden.set_requires_grad();
      Tensor loss = cross_entropy(reshape(lm(hidden), {64, 48}), reshape(targets, {64}));
      loss.backward();
      EXPECT_NEAR(loss.item(), ref_loss.item(), 1e-6 * ref_loss.item());
      world->send(hidden.grad().contiguous(), 0);
    }
    expect_grads_match(lm, nullptr);
  }
}

TEST(TpModel, VocabParallelCrossEntropyMatchesCrossEntropy) {
  parallel::CommOptions opt;
  opt.timeout_s = 60;
  auto world = parallel::mpi_world(opt);
  parallel::TensorParallel tp{world.get(), false};
  const int64_t n = 6, v = 12 * world->size();
  Generator gen(4);
  const Tensor full = mul(randn({n, v}, gen), 3.0);
  const Tensor targets = Tensor::from_vector<int64_t>({0, v - 1, -100, 5, v / 2, 7}, {n});
  Tensor ref_in = full.clone();
  ref_in.set_requires_grad();
  Tensor ref = cross_entropy(ref_in, targets, -100, Reduction::sum);
  ref.backward();

  const int64_t local = v / world->size(), start = world->rank() * local;
  Tensor mine = slice(full, 1, start, start + local).contiguous();
  mine.set_requires_grad();
  Tensor loss = sum(parallel::vocab_parallel_cross_entropy(mine, targets, start, tp));
  loss.backward();
  EXPECT_NEAR(loss.item(), ref.item(), 1e-5 * ref.item());
  expect_close(mine.grad(), slice(ref_in.grad(), 1, start, start + local), 1e-5, "logit grad");
  EXPECT_EQ(world->stats().calls[int(parallel::CommOp::all_reduce)], 3)
      << "max, sum of exponentials and target logit: three all-reduces";
}

TEST(TpModel, OutOfRangeTargetIsAnError) {
  auto world = parallel::mpi_world();
  parallel::TensorParallel tp{world.get(), false};
  const Tensor logits = Tensor::zeros({1, 4});
  const Tensor bad = Tensor::from_vector<int64_t>({int64_t(4 * world->size())}, {1});
  const std::string msg = error_message(
      [&] { parallel::vocab_parallel_cross_entropy(logits, bad, world->rank() * 4, tp); });
  EXPECT_NE(msg.find("outside the vocabulary"), std::string::npos) << msg;
}

}  // namespace
