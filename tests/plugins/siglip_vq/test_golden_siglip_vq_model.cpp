// The whole siglip_vq tokenizer against an independent PyTorch 1.13 implementation
// (fixtures/golden/siglip_vq_model.xtf, make_siglip_vq_fixtures.py) with the same random weights,
// loaded by parameter name: the vision features (patch layout, sin-cos positions, blocks), the
// image and text embeddings (byte tokens, padding masks, pooling), the SigLIP loss and its
// gradient for every parameter; the quantiser's ids, continuous vectors and losses, and the
// gradient of a loss on the straight-through codes plus the VQ losses for every parameter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "check.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/siglip_vq/model.h"

using namespace xomni;
using namespace xomni::siglip_vq;

namespace {

const test::Fixture& fx() {
  static const test::Fixture f = test::load_fixture("siglip_vq_model");
  return f;
}

// CFG and TEXTS in the script.
const char* kSettings = R"({"patch_size": 4, "vision_width": 16, "vision_layers": 2,
  "vision_heads": 2, "mlp_ratio": 2, "embed_dim": 8, "code_dim": 8, "codebook_size": 16,
  "text_width": 8, "text_layers": 1, "text_heads": 2, "text_max_len": 10, "layer_norm_eps": 1e-6,
  "codebook_weight": 1.0, "commitment_weight": 0.25})";
const std::vector<std::string> kTexts = {"a red square", "", "blue sky over the sea"};

// f32 results of a few layers of f32 math against f64 references rounded once (measured errors
// reach 1.5e-6).
constexpr double kTol = 1e-5, kGradTol = 2e-5;

std::unique_ptr<SiglipVQ> loaded() {
  auto tok = std::make_unique<SiglipVQ>(siglip_vq::Config::from_json_text(kSettings, "<test>"), 1);
  std::set<std::string> names;
  for (const auto& [name, t] : tok->named_parameters()) {
    Tensor(t).copy_(test::fixture_get(fx(), "w." + name));
    names.insert(name);
  }
  for (const auto& [key, t] : fx())
    if (key.starts_with("w.")) {
      EXPECT_TRUE(names.count(key.substr(2))) << "no parameter " << key;
    }
  return tok;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// Every parameter's gradient against the fixture's `prefix`.<name>: present exactly where the
// reference has one.
void expect_gradients(const SiglipVQ& tok, const std::string& prefix) {
  int compared = 0;
  for (const auto& [name, t] : tok.named_parameters()) {
    auto it = fx().find(prefix + name);
    if (it == fx().end()) {
      EXPECT_FALSE(t.grad().defined()) << name << " has a gradient PyTorch does not";
      continue;
    }
    if (name.ends_with("attn.k.bias")) {
      // Softmax ignores a shift shared by a query's scores, and q . b_k is one: this gradient is
      // zero up to rounding on both sides, so it is compared absolutely.
      ASSERT_TRUE(t.grad().defined()) << name;
      EXPECT_LT(max_abs(t.grad()), 1e-6) << name;
      EXPECT_LT(max_abs(it->second), 1e-6) << name;
      continue;
    }
    test::expect_close(t.grad(), it->second, kGradTol, prefix + name);
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

}  // namespace

TEST(GoldenSiglipVQModel, ContrastivePassMatchesPyTorch) {
  const auto tok = loaded();
  const Tensor images = test::fixture_get(fx(), "images");
  test::expect_close(tok->features(images), test::fixture_get(fx(), "features"), kTol, "features");
  test::expect_close(tok->image_embeddings(images), test::fixture_get(fx(), "image_emb"), kTol,
                     "image_emb");
  test::expect_close(tok->text_embeddings(kTexts), test::fixture_get(fx(), "text_emb"), kTol,
                     "text_emb");
  const plugins::LossTerms terms = tok->contrastive_loss(images, kTexts);
  test::expect_close(terms.total, test::fixture_get(fx(), "siglip_loss"), kTol, "siglip_loss");
  terms.total.backward();
  expect_gradients(*tok, "gc.");
}

TEST(GoldenSiglipVQModel, QuantizePassMatchesPyTorch) {
  const auto tok = loaded();
  const Tensor images = test::fixture_get(fx(), "images");
  const plugins::QuantizedImages q = tok->quantize(images);
  EXPECT_EQ(q.grid_h, 2);
  EXPECT_EQ(q.grid_w, 3);
  EXPECT_EQ(q.ids.to_vector<int64_t>(), test::fixture_get(fx(), "ids").to_vector<int64_t>());
  EXPECT_EQ(tok->encode(images).to_vector<int64_t>(),
            test::fixture_get(fx(), "ids").to_vector<int64_t>());
  test::expect_close(q.continuous, test::fixture_get(fx(), "continuous"), kTol, "continuous");
  test::expect_close(q.losses.total, test::fixture_get(fx(), "vq_total"), kTol, "vq_total");
  add(sum(mul(q.codes, test::fixture_get(fx(), "code_w"))), q.losses.total).backward();
  expect_gradients(*tok, "gq.");
}
