// A tiny random X-Omni made in plain PyTorch in the official module layout
// (tests/fixtures/golden/make_xomni_fixtures.py, reference in f64), loaded through the "xomni"
// backbone plugin from safetensors: text-mode and image-mode logits at every position of a mixed
// text/image sequence, the modality-masked per-token loss (token_nll) and the gradient of its sum
// for every parameter, and 16 greedy image tokens with and without the KV cache.
// Tolerance: 1e-4 of each tensor's scale (scaled_max_error): f32 GEMMs against an f64 reference.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "check.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/xomni_model/model.h"

using namespace xomni;
using plugins::BackboneInputs;
using plugins::LogitMode;

namespace {
const std::string kDir = std::string(XOMNI_FIXTURE_DIR) + "/xomni_tiny";
constexpr int64_t V = 64, K = 40, M = 48;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const test::Fixture& fixture() {
  static const test::Fixture fx = test::load_fixture("xomni_tiny");
  return fx;
}

// Through the registry, as a job or `xomni generate` gets it.
plugins::Backbone& model() {
  static std::unique_ptr<plugins::Backbone> m = [] {
    plugins::ComponentContext ctx;
    ctx.config_json = read_text(kDir + "/config.json");
    ctx.where = kDir + "/config.json";
    ctx.seed = 11;
    auto lm = plugins::create_backbone("xomni", ctx);
    lm->load_weights(load_safetensors_any(kDir));
    return lm;
  }();
  return *m;
}

Tensor run(const Tensor& ids, LogitMode mode, bool checkpoint = false) {
  BackboneInputs in;
  in.mode = mode;
  in.checkpoint_layers = checkpoint;
  return model().logits(ids, in);
}

// Every column outside [open_begin, open_end) holds the lowest float.
void expect_closed_outside(const Tensor& logits, int64_t open_begin, int64_t open_end) {
  const std::vector<float> v = logits.contiguous().to_vector<float>();
  const int64_t width = logits.size(-1);
  int64_t bad = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t c = int64_t(i) % width;
    if ((c < open_begin || c >= open_end) && v[i] != std::numeric_limits<float>::lowest()) ++bad;
  }
  EXPECT_EQ(bad, 0) << "columns outside [" << open_begin << ", " << open_end << ") not closed";
}
}  // namespace

TEST(GoldenXOmni, SizesOfThePlugin) {
  EXPECT_EQ(model().vocab_size(), V + M);
  EXPECT_EQ(model().dims().vocab_size, V);
  EXPECT_EQ(model().hidden_size(), 16);
  EXPECT_EQ(model().named_parameters().size(), size_t(2 + 6 * 12 + 2 + 2));
}

TEST(GoldenXOmni, TextAndImageModeLogits) {
  const Tensor ids = fixture().at("ids");
  NoGradGuard no_grad;
  const Tensor text = run(ids, LogitMode::text);
  ASSERT_EQ(text.shape(), (Shape{2, ids.size(1), V + M}));
  test::expect_close(slice(text, 2, 0, V), fixture().at("text_logits"), 1e-4, "text logits");
  expect_closed_outside(text, 0, V);
  const Tensor image = run(ids, LogitMode::image);
  ASSERT_EQ(image.shape(), (Shape{2, ids.size(1), V + M}));
  test::expect_close(slice(image, 2, V, V + K), fixture().at("image_logits"), 1e-4, "image logits");
  expect_closed_outside(image, V, V + K);
  // Training mode: lm_head's row then mm_head's whole row (one rank).
  const Tensor train = run(ids, LogitMode::training);
  test::expect_close(slice(train, 2, 0, V), fixture().at("text_logits"), 1e-4, "training lm");
  test::expect_close(slice(train, 2, V, V + K), fixture().at("image_logits"), 1e-4, "training mm");
}

TEST(GoldenXOmni, ModalityMaskedLossAndEveryGradient) {
  for (bool checkpoint : {false, true}) {
    SCOPED_TRACE(checkpoint ? "checkpointed layers" : "plain");
    for (auto& [name, p] : model().named_parameters()) p.zero_grad();
    const Tensor nll = model().token_nll(run(fixture().at("ids"), LogitMode::training, checkpoint),
                                         fixture().at("targets"));
    test::expect_close(nll, fixture().at("nll"), 1e-4, "per-token nll");
    sum(nll).backward();
    int checked = 0;
    for (auto& [name, p] : model().named_parameters()) {
      test::expect_close(p.grad(), fixture().at("grad." + name), 1e-4, "grad " + name);
      ++checked;
    }
    EXPECT_EQ(checked, 78);
  }
}

TEST(GoldenXOmni, GreedyImageTokensWithAndWithoutCache) {
  const std::vector<int64_t> prompt = fixture().at("prompt").to_vector<int64_t>();
  const std::vector<int64_t> expected = fixture().at("greedy_image").to_vector<int64_t>();
  ASSERT_EQ(expected.size(), 16u);
  auto* lm = dynamic_cast<xomni_model::XOmniForCausalLM*>(&model());
  ASSERT_NE(lm, nullptr);
  EXPECT_EQ(lm->generate_image_greedy(prompt, 16, /*use_cache=*/false), expected);
  EXPECT_EQ(lm->generate_image_greedy(prompt, 16, /*use_cache=*/true), expected);
}

// The same weights in bf16, sharded over two files with an index: each tensor is the f32 one
// rounded to bf16, and the model loads them (torch_dtype "bfloat16" in that folder's config).
TEST(GoldenXOmni, ShardedBf16WeightsLoad) {
  const TensorMap f32 = load_safetensors_any(kDir);
  const TensorMap bf16 = load_safetensors_any(kDir + "/bf16_sharded");
  ASSERT_EQ(f32.size(), bf16.size());
  for (const auto& [name, t] : f32) {
    ASSERT_TRUE(bf16.count(name)) << name;
    EXPECT_EQ(bf16.at(name).dtype(), DType::bf16) << name;
    test::expect_close(bf16.at(name).to(DType::f32), t.to(DType::bf16).to(DType::f32), 0.0,
                       "bf16 " + name);
  }
  // The model loads them (as f32 parameters): the same function as the f32 model given the
  // rounded weights.
  xomni_model::XOmniForCausalLM lm(
      xomni_model::Config::from_json_file(kDir + "/bf16_sharded/config.json"), 5);
  lm.load_weights(bf16);
  TensorMap rounded;
  for (const auto& [name, t] : f32) rounded.emplace(name, t.to(DType::bf16).to(DType::f32));
  xomni_model::XOmniForCausalLM reference(
      xomni_model::Config::from_json_file(kDir + "/config.json"), 6);
  reference.load_weights(rounded);
  NoGradGuard no_grad;
  BackboneInputs in;
  in.mode = LogitMode::text;
  test::expect_close(lm.logits(fixture().at("ids"), in), reference.logits(fixture().at("ids"), in),
                     0.0, "logits from bf16 weights");
}

// Two pipeline stages built from the same seed and weights give the one-stage logits; the later
// stage reads the image positions from BackboneInputs::token_ids.
TEST(GoldenXOmni, TwoPipelineStagesMatchOneModel) {
  const auto cfg = xomni_model::Config::from_json_file(kDir + "/config.json");
  const TensorMap all = load_safetensors_any(kDir);
  xomni_model::XOmniForCausalLM first(cfg, 1, {{}, nullptr, 0, 3});
  xomni_model::XOmniForCausalLM last(cfg, 1, {{}, nullptr, 3, -1});
  for (auto* stage : {&first, &last}) {
    TensorMap mine;
    for (const auto& [name, p] : stage->named_parameters()) mine.emplace(name, all.at(name));
    stage->load_weights(mine);
  }
  NoGradGuard no_grad;
  const Tensor ids = fixture().at("ids");
  BackboneInputs in;
  in.mode = LogitMode::image;
  const Tensor hidden = first.stage_forward(ids, in);
  in.token_ids = ids;
  test::expect_close(slice(last.stage_forward(hidden, in), 2, V, V + K),
                     fixture().at("image_logits"), 1e-4, "two-stage image logits");
  in.token_ids = Tensor();
  const std::string m = test::error_message([&] { last.stage_forward(hidden, in); });
  EXPECT_TRUE(test::contains(m, "token_ids")) << m;
}
