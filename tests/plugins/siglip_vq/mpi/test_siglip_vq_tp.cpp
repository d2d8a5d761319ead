// The siglip_vq tokenizer split over a tensor-parallel group (every rank of the world) against one
// process built from the same seed: the vision features, the ids, the contrastive and VQ losses,
// and every parameter's gradient (pieces gathered over the group) are the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "check.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/siglip_vq/model.h"

using namespace xomni;
using namespace xomni::siglip_vq;

namespace {

siglip_vq::Config tiny_config() {
  siglip_vq::Config c;
  c.vision_width = 32;
  c.vision_layers = 2;
  c.vision_heads = 4;
  c.embed_dim = 16;
  c.code_dim = 8;
  c.codebook_size = 16;
  c.text_width = 16;
  c.text_layers = 1;
  c.text_heads = 4;
  c.text_max_len = 12;
  return c;
}

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

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// Every parameter's gradient, gathered to its global shape, against the one-process model's.
void expect_same_gradients(const SiglipVQ& split, SiglipVQ& ref, parallel::Communicator& comm) {
  int sharded = 0;
  for (const nn::ParamInfo& p : split.parameter_infos()) {
    ASSERT_TRUE(p.tensor.grad().defined() == ref.parameter(p.name).grad().defined()) << p.name;
    if (!p.tensor.grad().defined()) continue;
    Tensor g = p.tensor.grad().contiguous().clone();
    if (p.sharding.sharded()) {
      g = gather_pieces(g, p.sharding.dim, comm);
      ++sharded;
    }
    if (p.name.ends_with("attn.k.bias")) {
      // Zero up to rounding (softmax ignores q . b_k, shared by a query's scores): compared
      // absolutely.
      EXPECT_LT(max_abs(g), 1e-6) << p.name;
      EXPECT_LT(max_abs(ref.parameter(p.name).grad()), 1e-6) << p.name;
      continue;
    }
    test::expect_close(g, ref.parameter(p.name).grad(), 1e-5, p.name);
  }
  EXPECT_GT(sharded, 0);
}

}  // namespace

TEST(SiglipVQTensorParallel, MatchesOneProcess) {
  parallel::CommOptions opt;
  opt.timeout_s = 120;
  auto world = parallel::mpi_world(opt);
  // Sequence parallelism does not apply to the tokenizer: asked for, it is ignored.
  const parallel::TensorParallel tp{world.get(), true};
  const siglip_vq::Config cfg = tiny_config();
  SiglipVQ ref(cfg, 4), split(cfg, 4, tp);
  const Tensor images = test::uniform({2, 3, 16, 24}, 5, DType::f32, 0.0, 1.0);
  const std::vector<std::string> texts = {"a cat", "two dogs on grass"};

  test::expect_close(split.features(images), ref.features(images), 1e-5, "features");
  EXPECT_EQ(split.encode(images).to_vector<int64_t>(), ref.encode(images).to_vector<int64_t>());

  const plugins::LossTerms a = split.contrastive_loss(images, texts);
  const plugins::LossTerms b = ref.contrastive_loss(images, texts);
  EXPECT_NEAR(a.total.item(), b.total.item(), 1e-5 * std::abs(b.total.item()));
  a.total.backward();
  b.total.backward();
  expect_same_gradients(split, ref, *world);

  for (auto& [n, t] : split.named_parameters()) Tensor(t).zero_grad();
  for (auto& [n, t] : ref.named_parameters()) Tensor(t).zero_grad();
  const plugins::QuantizedImages qa = split.quantize(images), qb = ref.quantize(images);
  EXPECT_EQ(qa.ids.to_vector<int64_t>(), qb.ids.to_vector<int64_t>());
  const Tensor w = test::uniform({2, 6, 8}, 6, DType::f32);
  add(sum(mul(qa.codes, w)), qa.losses.total).backward();
  add(sum(mul(qb.codes, w)), qb.losses.total).backward();
  expect_same_gradients(split, ref, *world);
}

TEST(SiglipVQTensorParallel, RefusesHeadsTheGroupDoesNotDivide) {
  auto world = parallel::mpi_world();
  siglip_vq::Config cfg = tiny_config();
  cfg.vision_heads = 1;
  cfg.vision_width = 32;
  const std::string m =
      test::error_message([&] { SiglipVQ tok(cfg, 1, parallel::TensorParallel{world.get()}); });
  EXPECT_TRUE(test::contains(m, "vision_heads") && test::contains(m, "tensor-parallel size")) << m;
}
