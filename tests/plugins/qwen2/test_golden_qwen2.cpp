// A tiny random Qwen2 made in plain PyTorch with Hugging Face semantics
// (make_qwen2_fixture.py), loaded from safetensors: logits, loss, every parameter gradient and
// 32 greedy tokens (with and without the KV cache) must match; the loss and gradients also through
// the head fused with the loss.
// Tolerance: 1e-4 of each tensor's scale (scaled_max_error): two f32 blocks of GEMMs whose
// accumulation order differs from PyTorch's; observed errors are about 1e-6.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/core/nn/optim.h"
#include "xomni/qwen2/model.h"

using namespace xomni;

namespace {
const std::string kDir = std::string(XOMNI_FIXTURE_DIR) + "/qwen2_tiny";

qwen2::CausalLM& model() {
  static qwen2::CausalLM* m = [] {
    auto* lm = new qwen2::CausalLM(qwen2::Config::from_json_file(kDir + "/config.json"), 7);
    lm->load_weights(load_safetensors_any(kDir));
    return lm;
  }();
  return *m;
}

const test::Fixture& fixture() {
  static const test::Fixture fx = test::load_fixture("qwen2_tiny");
  return fx;
}

Tensor shifted_loss(const Tensor& logits, const Tensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1), V = logits.size(2);
  Tensor pred = reshape(slice(logits, 1, 0, T - 1), {B * (T - 1), V});
  Tensor target = reshape(slice(ids, 1, 1, T), {B * (T - 1)});
  return cross_entropy(pred, target);
}
}  // namespace

TEST(GoldenQwen2, LogitsLossAndGradients) {
  qwen2::CausalLM& lm = model();
  const Tensor ids = fixture().at("ids");
  for (auto& [name, p] : lm.named_parameters()) p.zero_grad();
  Tensor logits = lm(ids);
  test::expect_close(logits, fixture().at("logits"), 1e-4, "logits");
  Tensor loss = shifted_loss(logits, ids);
  test::expect_close(reshape(loss, {1}), fixture().at("loss"), 1e-5, "loss");
  loss.backward();
  int checked = 0;
  for (auto& [name, p] : lm.named_parameters()) {
    test::expect_close(p.grad(), fixture().at("grad." + name), 1e-4, "grad " + name);
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 2 * 12 + 1);  // embed, lm_head, 12 per layer, final norm
}

// The head fused with the loss (stage_token_nll, what the LM stage trains with) against the same
// PyTorch loss and gradients: targets are the ids shifted left, the last position ignored.
TEST(GoldenQwen2, FusedHeadLossAndGradients) {
  qwen2::CausalLM& lm = model();
  const Tensor ids = fixture().at("ids");
  const int64_t B = ids.size(0), T = ids.size(1);
  Tensor targets = Tensor::full({B, T}, -100, DType::i64);
  slice(targets, 1, 0, T - 1).copy_(slice(ids, 1, 1, T));
  for (auto& [name, p] : lm.named_parameters()) p.zero_grad();
  Tensor loss = mul(sum(lm.stage_token_nll(ids, targets, {})), 1.0 / double(B * (T - 1)));
  test::expect_close(reshape(loss, {1}), fixture().at("loss"), 1e-5, "fused loss");
  loss.backward();
  for (auto& [name, p] : lm.named_parameters())
    test::expect_close(p.grad(), fixture().at("grad." + name), 1e-4, "fused grad " + name);
}

TEST(GoldenQwen2, CheckpointedLayersGiveTheSameGradients) {
  qwen2::CausalLM& lm = model();
  const Tensor ids = fixture().at("ids");
  for (auto& [name, p] : lm.named_parameters()) p.zero_grad();
  qwen2::ForwardOptions opt;
  opt.checkpoint_layers = true;
  shifted_loss(lm(ids, opt), ids).backward();
  for (auto& [name, p] : lm.named_parameters())
    test::expect_close(p.grad(), fixture().at("grad." + name), 1e-4, "checkpointed grad " + name);
}

// Ten AdamW steps (decay 0.1 except biases and norm weights) track torch.optim.AdamW's losses.
// Tolerance 1e-4 relative per loss: f32 differences of ~1e-6 grow a little over the steps.
TEST(GoldenQwen2, TenAdamWStepsMatchPyTorchLosses) {
  qwen2::CausalLM lm(qwen2::Config::from_json_file(kDir + "/config.json"), 3);
  lm.load_weights(load_safetensors_any(kDir));
  std::vector<NamedParam> params;
  for (auto& [name, p] : lm.named_parameters()) params.push_back({name, p});
  AdamWOptions o;
  o.lr = 3e-3;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  AdamW opt(params, o);
  const Tensor ids = fixture().at("ids");
  const std::vector<double> expected = fixture().at("adamw_losses").to_vector<double>();
  ASSERT_EQ(expected.size(), 10u);
  for (size_t step = 0; step < expected.size(); ++step) {
    Tensor loss = shifted_loss(lm(ids), ids);
    EXPECT_NEAR(loss.item(), expected[step], 1e-4 * expected[step]) << "step " << step;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(expected.back(), expected.front());  // the reference itself trains
}

TEST(GoldenQwen2, GreedyTokensWithAndWithoutCache) {
  const std::vector<int64_t> prompt = fixture().at("prompt").to_vector<int64_t>();
  const std::vector<int64_t> expected = fixture().at("greedy").to_vector<int64_t>();
  EXPECT_EQ(model().generate_greedy(prompt, 32, /*use_cache=*/false), expected);
  EXPECT_EQ(model().generate_greedy(prompt, 32, /*use_cache=*/true), expected);
}

TEST(GoldenQwen2, LoadErrorsListEveryProblem) {
  TensorMap w = load_safetensors_any(kDir);
  w.erase("model.norm.weight");
  w["model.layers.0.mlp.up_proj.weight"] = Tensor::zeros({3, 3});
  w["model.extra.weight"] = Tensor::zeros({2});
  qwen2::CausalLM lm(qwen2::Config::from_json_file(kDir + "/config.json"), 1);
  try {
    lm.load_weights(w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing (1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped (1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected (1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.extra.weight"), std::string::npos) << msg;
  }
}

TEST(GoldenQwen2, ConfigErrorsNameTheField) {
  EXPECT_THROW(qwen2::Config::from_json_text(R"({"hidden_size": 32})", "cfg.json"), Error);
  try {
    qwen2::Config::from_json_text(
        R"({"vocab_size": 8, "hidden_size": 30, "intermediate_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 4})",
        "cfg.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_attention_heads"), std::string::npos) << e.what();
  }
}
