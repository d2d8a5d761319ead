// The xomni backbone under tensor parallelism (with and without sequence parallelism), context
// parallelism and two pipeline stages against one process, on the PyTorch fixture's weights and
// mixed text/image sequences: the gathered training logits, token_nll and every gathered
// parameter gradient of sum(token_nll) match; weights drawn from a seed are the same under tp.
// Tolerance 1e-5 of each tensor's scale: the same f32 math summed in another order.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/topology.h"
#include "xomni/xomni_model/model.h"

using namespace xomni;
using namespace xomni::test;
using xomni_model::XOmniForCausalLM;

namespace {
const std::string kDir = std::string(XOMNI_FIXTURE_DIR) + "/xomni_tiny";
constexpr int64_t V = 64, M = 48, T = 20;  // T: divisible by tp=2 and by 2 * cp

// The global tensor from every rank's piece along `dim`.
Tensor gather_pieces(const Tensor& piece, int dim, parallel::Communicator& comm) {
  std::vector<int64_t> order{dim};
  for (int64_t d = 0; d < piece.dim(); ++d)
    if (d != dim) order.push_back(d);
  const Tensor front = permute(piece, order).contiguous();
  Shape full = front.shape();
  full[0] *= comm.size();
  Tensor out = Tensor::empty(full, piece.dtype());
  comm.all_gather(front, out);
  std::vector<int64_t> back(size_t(piece.dim()));
  for (size_t i = 0; i < order.size(); ++i) back[size_t(order[i])] = int64_t(i);
  return permute(out, back).contiguous();
}

struct Reference {
  xomni_model::Config cfg = xomni_model::Config::from_json_file(kDir + "/config.json");
  TensorMap weights = load_safetensors_any(kDir);
  Tensor ids, targets, logits, nll;
  std::map<std::string, Tensor> grads;
  Reference() {
    const Fixture fx = load_fixture("xomni_tiny");
    ids = slice(fx.at("ids"), 1, 0, T).contiguous();
    targets = slice(fx.at("targets"), 1, 0, T).contiguous();
    XOmniForCausalLM model(cfg, 9);
    model.load_weights(weights);
    logits = model.logits(ids, {});
    nll = model.token_nll(logits, targets);
    sum(nll).backward();
    logits = logits.detach();
    nll = nll.detach();
    for (auto& [name, p] : model.named_parameters()) grads[name] = p.grad().clone();
  }
};

// This rank's gradients, summed over `sum_over` (cp ranks) and gathered over `tp`, equal the
// one-process ones for every parameter this rank holds.
void expect_grads_match(const XOmniForCausalLM& lm, const Reference& ref,
                        parallel::Communicator* tp, parallel::Communicator* sum_over) {
  for (const nn::ParamInfo& p : lm.parameter_infos()) {
    Tensor g = p.tensor.grad().contiguous().clone();
    if (sum_over) sum_over->all_reduce(g);
    if (tp && p.sharding.partial_grad) tp->all_reduce(g);
    if (tp && p.sharding.sharded()) g = gather_pieces(g, p.sharding.dim, *tp);
    expect_close(g, ref.grads.at(p.name), 1e-5, "grad " + p.name);
  }
}

std::unique_ptr<parallel::Communicator> world() {
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  return parallel::mpi_world(opt);
}
}  // namespace

TEST(XOmniParallel, TensorParallelMatchesOneProcess) {
  auto comm = world();
  if (comm->size() != 2) GTEST_SKIP() << "needs 2 ranks (the fixture has 2 key/value heads)";
  const Reference ref;
  for (bool sp : {false, true}) {
    SCOPED_TRACE(sp ? "tp=2 sequence-parallel" : "tp=2");
    parallel::TensorParallel tp{comm.get(), sp};
    XOmniForCausalLM lm(ref.cfg, 9, {tp, nullptr, 0, -1});
    if (!sp) {  // seed-drawn weights: this rank's pieces of the one-process weights
      XOmniForCausalLM one(ref.cfg, 9);
      std::map<std::string, Tensor> whole;
      for (auto& [name, p] : one.named_parameters()) whole[name] = p;
      for (const nn::ParamInfo& p : lm.parameter_infos()) {
        Tensor w = p.tensor.detach().contiguous();
        if (p.sharding.sharded()) w = gather_pieces(w, p.sharding.dim, *comm);
        expect_close(w, whole.at(p.name), 0.0, "seed weight " + p.name);
      }
    }
    lm.load_weights(ref.weights);
    const Tensor logits = lm.logits(ref.ids, {});
    ASSERT_EQ(logits.shape(), (Shape{2, T, V / 2 + M / 2}));
    const Tensor lm_part = gather_pieces(slice(logits, 2, 0, V / 2).detach(), 2, *comm);
    const Tensor mm_part = gather_pieces(slice(logits, 2, V / 2, V / 2 + M / 2).detach(), 2, *comm);
    expect_close(cat({lm_part, mm_part}, 2), ref.logits, 1e-5, "gathered logits");
    const Tensor nll = lm.token_nll(logits, ref.targets);
    expect_close(nll.detach(), ref.nll, 1e-5, "token_nll");
    sum(nll).backward();
    expect_grads_match(lm, ref, comm.get(), nullptr);
  }
}

TEST(XOmniParallel, ContextParallelMatchesOneProcess) {
  auto comm = world();
  const int cp = comm->size(), r = comm->rank();
  if (T % (2 * cp) != 0) GTEST_SKIP() << "length " << T << " does not split over cp=" << cp;
  const Reference ref;
  XOmniForCausalLM lm(ref.cfg, 9, {{}, comm.get(), 0, -1});
  lm.load_weights(ref.weights);
  const Tensor positions = expand(unsqueeze(Tensor::arange(T, DType::i64), 0), {2, T});
  plugins::BackboneInputs in;
  in.positions = parallel::zigzag_take(positions.contiguous(), 1, cp, r);
  in.segment_ids = Tensor::zeros({2, T / cp}, DType::i64);
  const Tensor my_ids = parallel::zigzag_take(ref.ids, 1, cp, r);
  const Tensor logits = lm.logits(my_ids, in);
  const Tensor nll = lm.token_nll(logits, parallel::zigzag_take(ref.targets, 1, cp, r));
  expect_close(nll.detach(), parallel::zigzag_take(ref.nll, 1, cp, r), 1e-5, "token_nll");
  sum(nll).backward();
  expect_grads_match(lm, ref, nullptr, comm.get());
}

// Two stages (layers [0, 3) with the adap layer, [3, 6) with the head layer): the later stage
// reads the image positions from BackboneInputs::token_ids.
TEST(XOmniParallel, TwoPipelineStagesMatchOneProcess) {
  auto comm = world();
  if (comm->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  const Reference ref;
  const int stage = comm->rank();
  XOmniForCausalLM lm(ref.cfg, 9, {{}, nullptr, stage == 0 ? 0 : 3, stage == 0 ? 3 : -1});
  TensorMap mine;
  for (const auto& [name, p] : lm.named_parameters()) mine.emplace(name, ref.weights.at(name));
  lm.load_weights(mine);
  const int64_t H = ref.cfg.base.hidden_size;
  if (stage == 0) {
    const Tensor hidden = lm.stage_forward(ref.ids, {});
    comm->send(hidden.contiguous(), 1);
    Tensor grad = Tensor::empty(hidden.shape());
    comm->recv(grad, 1);
    run_backward({hidden}, {grad});
  } else {
    Tensor hidden = Tensor::empty({2, T, H});
    comm->recv(hidden, 0);
    hidden.set_requires_grad();
    plugins::BackboneInputs in;
    in.token_ids = ref.ids;
    const Tensor nll = lm.token_nll(lm.stage_forward(hidden, in), ref.targets);
    expect_close(nll.detach(), ref.nll, 1e-5, "token_nll");
    sum(nll).backward();
    comm->send(hidden.grad().contiguous(), 0);
  }
  expect_grads_match(lm, ref, nullptr, nullptr);
}
