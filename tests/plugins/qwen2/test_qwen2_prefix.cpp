// Prefix embeddings (ForwardOptions::prefix_embeddings,
// plugins::BackboneInputs::prefix_embeddings): embedding the first P ids by hand and passing them
// as the prefix gives the plain call's logits and parameter gradients (with and without a tied
// head, given positions and segment ids, through the KV cache and through the plugin interface);
// the prefix's gradient matches finite differences (the model cast to f64); bad shapes are refused
// naming the sizes. The two-rank tensor-parallel check is in tests/jobs/mpi/test_tp_model.cpp.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/qwen2/model.h"

using namespace xomni;
using test::contains;
using test::error_message;

namespace {

qwen2::Config tiny_config(bool tied = false) {
  qwen2::Config c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = tied;
  return c;
}

Tensor random_ids(int64_t B, int64_t T, uint64_t seed) {
  Generator gen(seed);
  return mul(rand({B, T}, gen, DType::f64), 39.999).to(DType::i64);
}

const Tensor& embed_weight(qwen2::CausalLM& lm) {
  return lm.parameter("model.embed_tokens.weight");
}

void zero_grads(qwen2::CausalLM& lm) {
  for (auto& [name, p] : lm.named_parameters()) p.zero_grad();
}

// name -> gradient copy.
std::map<std::string, Tensor> grads(qwen2::CausalLM& lm) {
  std::map<std::string, Tensor> out;
  for (auto& [name, p] : lm.named_parameters()) out[name] = p.grad().clone();
  return out;
}

// A scalar of the logits that weighs every position and vocabulary entry differently.
Tensor weighted_sum(const Tensor& logits, uint64_t seed) {
  return sum(mul(logits, test::uniform(logits.shape(), seed, logits.dtype())));
}

}  // namespace

TEST(Qwen2Prefix, EmbeddedIdsAsPrefixGiveThePlainLogitsAndGradients) {
  for (bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied head" : "separate head");
    qwen2::CausalLM lm(tiny_config(tied), 5);
    const int64_t B = 2, T = 12, P = 5;
    const Tensor ids = random_ids(B, T, 1);

    zero_grads(lm);
    const Tensor plain = lm(ids);
    ASSERT_EQ(plain.shape(), (Shape{B, T, 40}));
    weighted_sum(plain, 3).backward();
    const auto plain_grads = grads(lm);

    zero_grads(lm);
    qwen2::ForwardOptions opt;
    opt.prefix_embeddings = embedding(embed_weight(lm), slice(ids, 1, 0, P));
    const Tensor prefixed = lm(slice(ids, 1, P, T).contiguous(), opt);
    ASSERT_EQ(prefixed.shape(), (Shape{B, T, 40}));
    test::expect_close(prefixed, plain, 1e-6, "logits");
    // The prefix was made from the embedding, so every parameter's gradient is the plain one.
    weighted_sum(prefixed, 3).backward();
    for (const auto& [name, g] : grads(lm)) test::expect_close(g, plain_grads.at(name), 1e-6, name);
  }
}

TEST(Qwen2Prefix, PositionsAndSegmentIdsCoverThePrefix) {
  qwen2::CausalLM lm(tiny_config(), 5);
  const int64_t B = 2, T = 10, P = 3;
  const Tensor ids = random_ids(B, T, 2);
  qwen2::ForwardOptions full;
  full.positions = Tensor::from_vector<int64_t>({4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, {T});
  // Two documents per row, the boundary inside the prefix for row 0 and after it for row 1.
  full.segment_ids = Tensor::from_vector<int64_t>(
      {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, {B, T});
  const Tensor plain = lm(ids, full);
  qwen2::ForwardOptions opt = full;
  opt.prefix_embeddings = embedding(embed_weight(lm), slice(ids, 1, 0, P));
  test::expect_close(lm(slice(ids, 1, P, T).contiguous(), opt), plain, 1e-6, "logits");
}

TEST(Qwen2Prefix, KvCacheTakesThePrefixOnTheFirstCall) {
  qwen2::CausalLM lm(tiny_config(), 5);
  NoGradGuard no_grad;
  const int64_t T = 9, P = 4, first = 6;  // call 1: prefix + ids[P, first); then one id a call
  const Tensor ids = random_ids(1, T, 3);
  const Tensor plain = lm(ids);
  qwen2::KVCache cache(lm.config(), 1, T);
  qwen2::ForwardOptions opt;
  opt.cache = &cache;
  opt.prefix_embeddings = embedding(embed_weight(lm), slice(ids, 1, 0, P));
  Tensor out = lm(slice(ids, 1, P, first).contiguous(), opt);
  EXPECT_EQ(cache.length, first);
  test::expect_close(out, slice(plain, 1, 0, first), 1e-5, "first call");
  opt.prefix_embeddings = Tensor();
  for (int64_t t = first; t < T; ++t) {
    out = lm(slice(ids, 1, t, t + 1).contiguous(), opt);
    test::expect_close(out, slice(plain, 1, t, t + 1), 1e-5, "step " + std::to_string(t));
  }
  EXPECT_EQ(cache.length, T);
}

TEST(Qwen2Prefix, ThroughThePluginInterface) {
  qwen2::CausalLM lm(tiny_config(), 5);
  const plugins::Backbone& backbone = lm;
  const Tensor ids = random_ids(3, 8, 4);
  plugins::BackboneInputs in;
  in.prefix_embeddings = embedding(embed_weight(lm), slice(ids, 1, 0, 2));
  in.checkpoint_layers = true;
  test::expect_close(backbone.logits(slice(ids, 1, 2, 8).contiguous(), in), lm(ids), 1e-6,
                     "logits");
}

// Finite differences of a weighted sum of the logits with respect to every entry of a small
// prefix, in f64 (the model's parameters cast to f64), against autograd.
TEST(Qwen2Prefix, PrefixGradientMatchesFiniteDifferences) {
  qwen2::CausalLM lm(tiny_config(), 5);
  {
    NoGradGuard no_grad;
    for (const nn::ParamInfo& p : lm.parameter_infos()) {
      Tensor& t = lm.parameter(p.name);
      t = t.to(DType::f64);
    }
  }
  const Tensor ids = random_ids(2, 4, 6);
  const Tensor prefix = test::uniform_leaf({2, 3, 16}, 7, -0.05, 0.05);
  const double err = test::gradcheck(
      [&](const std::vector<Tensor>& x) {
        qwen2::ForwardOptions opt;
        opt.prefix_embeddings = x[0];
        return lm(ids, opt);
      },
      {prefix});
  EXPECT_LE(err, 1e-6);
}

TEST(Qwen2Prefix, BadPrefixesAreRefusedNamingTheSizes) {
  qwen2::CausalLM lm(tiny_config(), 5);
  const Tensor ids = random_ids(2, 6, 8);
  auto message = [&](const Tensor& prefix, const Tensor& positions = {},
                     const Tensor& segments = {}) {
    qwen2::ForwardOptions opt;
    opt.prefix_embeddings = prefix;
    opt.positions = positions;
    opt.segment_ids = segments;
    return error_message([&] { lm(ids, opt); });
  };
  std::string m = message(Tensor::zeros({3, 2, 16}));
  EXPECT_TRUE(contains(m, "batch 3") && contains(m, "batch 2")) << m;
  m = message(Tensor::zeros({2, 2, 8}));
  EXPECT_TRUE(contains(m, "width 8") && contains(m, "hidden_size is 16")) << m;
  m = message(Tensor::zeros({2, 16}));
  EXPECT_TRUE(contains(m, "[B, P, hidden_size=16]") && contains(m, "[2, 16]")) << m;
  m = message(Tensor::zeros({2, 2, 16}, DType::f64));
  EXPECT_TRUE(contains(m, "f64") && contains(m, "f32")) << m;
  m = message(Tensor::zeros({2, 2, 16}), Tensor::arange(6, DType::i64));
  EXPECT_TRUE(contains(m, "2 + 6 = 8") && contains(m, "positions [6]")) << m;
  m = message(Tensor::zeros({2, 2, 16}), {}, Tensor::zeros({2, 6}, DType::i64));
  EXPECT_TRUE(contains(m, "[2, 8]") && contains(m, "segment_ids") && contains(m, "[2, 6]")) << m;
  // The plugin interface passes the same checks.
  plugins::BackboneInputs in;
  in.prefix_embeddings = Tensor::zeros({1, 2, 16});
  m = error_message([&] { lm.logits(ids, in); });
  EXPECT_TRUE(contains(m, "batch 1") && contains(m, "batch 2")) << m;
}
