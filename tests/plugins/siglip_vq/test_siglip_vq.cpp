// The siglip_vq image tokenizer and the residual adapter through the component registry: settings
// (declared fields, refusals naming the setting), deterministic encoding, token grids that follow
// the image, image checks, code embeddings, the quantiser's training pass (straight-through codes
// and losses), the SigLIP contrastive loss against a hand computation, dead-code restarts, and the
// adapter against a hand computation in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "check.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/siglip_vq/model.h"

using namespace xomni;
using namespace xomni::plugins;
using xomni::test::contains;
using xomni::test::error_message;

namespace {

// A small tokenizer: 16 x 16 images give a 2 x 2 grid with patch 8.
const char* kSmall = R"({"vision_width": 32, "vision_layers": 2, "vision_heads": 2,
  "embed_dim": 16, "code_dim": 8, "codebook_size": 32, "text_width": 16, "text_layers": 1,
  "text_heads": 2, "text_max_len": 12})";

ComponentContext context(const std::string& json, uint64_t seed = 5) {
  ComponentContext ctx;
  ctx.config_json = json;
  ctx.where = "<test>";
  ctx.seed = seed;
  return ctx;
}

std::unique_ptr<ImageTokenizer> small(uint64_t seed = 5) {
  return create_image_tokenizer("siglip_vq", context(kSmall, seed));
}

Tensor images(int64_t B, int64_t H, int64_t W, uint64_t seed) {
  return test::uniform({B, 3, H, W}, seed, DType::f32, 0.0, 1.0);
}

std::map<std::string, Tensor> params(const nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : m.named_parameters()) out[name] = t;
  return out;
}

std::string create_error(const std::string& json) {
  return error_message([&] { create_image_tokenizer("siglip_vq", context(json)); });
}

double part(const LossTerms& terms, const std::string& name) {
  for (const auto& [n, v] : terms.parts)
    if (n == name) return v;
  ADD_FAILURE() << "no loss part " << name;
  return NAN;
}

}  // namespace

TEST(SiglipVQ, LoadsThroughTheRegistryWithItsParameters) {
  const auto tok = small();
  EXPECT_EQ(tok->codebook_size(), 32);
  EXPECT_EQ(tok->code_dim(), 8);
  EXPECT_EQ(tok->patch_size(), 8);
  const auto p = params(*tok);
  const std::map<std::string, Shape> expected = {
      {"vision.patch_embed.weight", {32, 192}},
      {"vision.patch_embed.bias", {32}},
      {"vision.blocks.0.norm1.weight", {32}},
      {"vision.blocks.1.attn.q.weight", {32, 32}},
      {"vision.blocks.1.attn.out.bias", {32}},
      {"vision.blocks.1.mlp.fc1.weight", {128, 32}},
      {"vision.blocks.1.mlp.fc2.weight", {32, 128}},
      {"vision.norm.bias", {32}},
      {"vision.head.weight", {16, 32}},
      {"text.token_embed.weight", {257, 16}},
      {"text.pos_embed", {12, 16}},
      {"text.blocks.0.attn.v.weight", {16, 16}},
      {"text.head.weight", {16, 16}},
      {"contrastive.logit_scale", {}},
      {"contrastive.logit_bias", {}},
      {"quantizer.proj.weight", {8, 32}},
      {"quantizer.codebook", {32, 8}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(p.count(name)) << name;
    EXPECT_EQ(p.at(name).shape(), shape) << name;
  }
  EXPECT_FALSE(p.count("vision.blocks.2.norm1.weight"));
  for (const auto& [name, t] : p) {
    const bool known = name.starts_with("vision.") || name.starts_with("text.") ||
                       name.starts_with("contrastive.") || name.starts_with("quantizer.");
    EXPECT_TRUE(known) << name;
    EXPECT_TRUE(t.requires_grad()) << name;
  }
  EXPECT_NEAR(p.at("contrastive.logit_scale").item(), std::log(10.0), 1e-6);
  EXPECT_EQ(p.at("contrastive.logit_bias").item(), -10.0);
  EXPECT_EQ(p.at("vision.blocks.0.norm1.weight").to_vector<float>(), std::vector<float>(32, 1.0f));
  // The codebook's rows are N(0, 1) draws: their mean square is near 1.
  const Tensor cb = p.at("quantizer.codebook");
  EXPECT_NEAR(mean(mul(cb, cb)).item(), 1.0, 0.2);
}

TEST(SiglipVQ, DeclaresEverySettingWithDefaultsAndRanges) {
  const std::vector<FieldSpec> fields = component_settings_fields("image_tokenizer", "siglip_vq");
  std::map<std::string, FieldSpec> by_key;
  for (const FieldSpec& f : fields) {
    EXPECT_FALSE(f.doc.empty()) << f.key;
    EXPECT_FALSE(f.required) << f.key;
    by_key[f.key] = f;
  }
  for (const char* key :
       {"patch_size", "vision_width", "vision_layers", "vision_heads", "mlp_ratio", "embed_dim",
        "code_dim", "codebook_size", "commitment_weight", "codebook_weight", "text_tower",
        "position_scale", "text_width", "text_layers", "text_heads", "text_max_len",
        "layer_norm_eps"})
    EXPECT_TRUE(by_key.count(key)) << key;
  EXPECT_EQ(by_key["codebook_size"].default_value.i, 512);
  EXPECT_EQ(by_key["patch_size"].default_value.i, 8);
  EXPECT_EQ(by_key["vision_width"].default_value.i, 128);
  EXPECT_EQ(by_key["text_max_len"].default_value.i, 96);
  EXPECT_DOUBLE_EQ(by_key["commitment_weight"].default_value.f, 0.25);
  EXPECT_FALSE(by_key["codebook_size"].range_problem(0).empty());
  EXPECT_TRUE(by_key["codebook_size"].range_problem(1).empty());
  EXPECT_FALSE(by_key["commitment_weight"].range_problem(-0.1).empty());
  EXPECT_DOUBLE_EQ(by_key["position_scale"].default_value.f, 1.0);
  EXPECT_FALSE(by_key["position_scale"].range_problem(-0.5).empty());
  // The defaults build (a 64 x 64 image gives 64 tokens of 512 codes).
  const auto tok = create_image_tokenizer("siglip_vq", context("{}"));
  EXPECT_EQ(tok->codebook_size(), 512);
  EXPECT_EQ(tok->code_dim(), 64);
  const Tensor ids = tok->encode(images(1, 64, 64, 1));
  EXPECT_EQ(ids.shape(), (Shape{1, 64}));
}

TEST(SiglipVQ, BadSettingsNameTheSetting) {
  std::string m = create_error(R"({"codebook_size": 0})");
  EXPECT_TRUE(contains(m, "codebook_size")) << m;
  EXPECT_TRUE(contains(m, "<test>")) << m;
  m = create_error(R"({"vision_width": 96, "vision_heads": 5})");
  EXPECT_TRUE(contains(m, "vision_width") && contains(m, "vision_heads")) << m;
  m = create_error(R"({"vision_width": 18, "vision_heads": 2, "code_dim": 8})");
  EXPECT_TRUE(contains(m, "vision_width") && contains(m, "multiple of 4")) << m;
  m = create_error(R"({"text_width": 30, "text_heads": 4})");
  EXPECT_TRUE(contains(m, "text_width") && contains(m, "text_heads")) << m;
  m = create_error(R"({"codebook_sise": 16})");
  EXPECT_TRUE(contains(m, "codebook_sise") && contains(m, "did you mean 'codebook_size'")) << m;
  m = create_error(R"({"patch_size": 7.5})");
  EXPECT_TRUE(contains(m, "patch_size") && contains(m, "integer")) << m;
  m = create_error(R"({"commitment_weight": -1})");
  EXPECT_TRUE(contains(m, "commitment_weight")) << m;
  m = create_error(R"([1, 2])");
  EXPECT_TRUE(contains(m, "JSON object")) << m;
  m = create_error(R"({"patch_size": )");
  EXPECT_TRUE(contains(m, "malformed")) << m;
  // Without a text tower those settings are not checked, and there is no contrastive loss.
  const auto no_text = create_image_tokenizer(
      "siglip_vq", context(R"({"vision_width": 32, "vision_heads": 2, "vision_layers": 1,
                               "code_dim": 8, "codebook_size": 16, "text_tower": false,
                               "text_heads": 3})"));
  m = error_message([&] { no_text->contrastive_loss(images(2, 16, 16, 1), {"a", "b"}); });
  EXPECT_TRUE(contains(m, "text tower")) << m;
  m = error_message([&] { no_text->text_embeddings({"a"}); });
  EXPECT_TRUE(contains(m, "text tower")) << m;
}

TEST(SiglipVQ, EncodeIsDeterministicAndFollowsTheSeed) {
  const auto a = small(5), b = small(5), c = small(6);
  const Tensor img = images(3, 16, 24, 11);
  const Tensor ids = a->encode(img);
  EXPECT_EQ(ids.dtype(), DType::i64);
  EXPECT_EQ(ids.to_vector<int64_t>(), a->encode(img).to_vector<int64_t>());
  EXPECT_EQ(ids.to_vector<int64_t>(), b->encode(img).to_vector<int64_t>());
  EXPECT_FALSE(ids.requires_grad());
  const auto pa = params(*a), pb = params(*b), pc = params(*c);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& [name, t] : pa)
    EXPECT_EQ(t.to_vector<float>(), pb.at(name).to_vector<float>()) << name;
  EXPECT_NE(pa.at("quantizer.codebook").to_vector<float>(),
            pc.at("quantizer.codebook").to_vector<float>());
  EXPECT_NE(pa.at("vision.blocks.0.attn.q.weight").to_vector<float>(),
            pc.at("vision.blocks.0.attn.q.weight").to_vector<float>());
  // Different images give different tokens (the ids depend on the pixels).
  EXPECT_NE(ids.to_vector<int64_t>(), a->encode(images(3, 16, 24, 12)).to_vector<int64_t>());
  for (int64_t id : ids.to_vector<int64_t>()) EXPECT_TRUE(id >= 0 && id < 32) << id;
}

TEST(SiglipVQ, TheTokenGridFollowsTheImage) {
  const auto tok = create_image_tokenizer(
      "siglip_vq", context(R"({"vision_width": 32, "vision_layers": 1, "vision_heads": 2,
                               "code_dim": 8, "codebook_size": 64, "text_tower": false})"));
  EXPECT_EQ(tok->encode(images(2, 64, 64, 1)).shape(), (Shape{2, 64}));
  EXPECT_EQ(tok->encode(images(1, 64, 128, 2)).shape(), (Shape{1, 128}));
  EXPECT_EQ(tok->encode(images(1, 8, 8, 3)).shape(), (Shape{1, 1}));
  const QuantizedImages q = tok->quantize(images(2, 64, 128, 4));
  EXPECT_EQ(q.grid_h, 8);
  EXPECT_EQ(q.grid_w, 16);
  EXPECT_EQ(q.ids.shape(), (Shape{2, 128}));
  EXPECT_EQ(q.codes.shape(), (Shape{2, 128, 8}));
  EXPECT_EQ(q.continuous.shape(), (Shape{2, 128, 8}));
  // A 128 x 64 image is a 16 x 8 grid (same token count, other shape).
  const QuantizedImages t = tok->quantize(images(1, 128, 64, 4));
  EXPECT_EQ(t.grid_h, 16);
  EXPECT_EQ(t.grid_w, 8);
  // Images are tokenized independently of their batch.
  const Tensor two = images(2, 16, 24, 6);
  std::vector<int64_t> one_by_one = tok->encode(slice(two, 0, 0, 1)).to_vector<int64_t>();
  const std::vector<int64_t> second = tok->encode(slice(two, 0, 1, 2)).to_vector<int64_t>();
  one_by_one.insert(one_by_one.end(), second.begin(), second.end());
  EXPECT_EQ(tok->encode(two).to_vector<int64_t>(), one_by_one);
}

TEST(SiglipVQ, BadImagesGiveClearErrors) {
  const auto tok = small();
  std::string m = error_message([&] { tok->encode(test::uniform({1, 4, 16, 16}, 1, DType::f32)); });
  EXPECT_TRUE(contains(m, "expects 3 channels (RGB), got 4")) << m;
  m = error_message([&] { tok->encode(test::uniform({1, 1, 16, 16}, 1, DType::f32)); });
  EXPECT_TRUE(contains(m, "expects 3 channels (RGB), got 1")) << m;
  m = error_message([&] { tok->encode(test::uniform({3, 16, 16}, 1, DType::f32)); });
  EXPECT_TRUE(contains(m, "[B, 3, H, W]") && contains(m, "[3, 16, 16]")) << m;
  m = error_message([&] { tok->encode(test::uniform({1, 3, 16, 16}, 1, DType::f64)); });
  EXPECT_TRUE(contains(m, "f32") && contains(m, "f64")) << m;
  m = error_message([&] { tok->encode(images(1, 16, 20, 1)); });
  EXPECT_TRUE(contains(m, "multiples of patch_size 8") && contains(m, "20")) << m;
  m = error_message([&] { tok->quantize(images(1, 4, 16, 1)); });
  EXPECT_TRUE(contains(m, "smaller than one patch")) << m;
  m = error_message([&] { tok->image_embeddings(images(1, 12, 16, 1)); });
  EXPECT_TRUE(contains(m, "patch_size")) << m;
  m = error_message([&] { tok->contrastive_loss(images(2, 16, 16, 1), {"one caption"}); });
  EXPECT_TRUE(contains(m, "2 images but 1 texts")) << m;
}

TEST(SiglipVQ, CodeEmbeddingsAreTheNormalisedCodebookRows) {
  const auto tok = small();
  const Tensor cb = params(*tok).at("quantizer.codebook");
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, 31, 7, 7}, {2, 2});
  const Tensor e = tok->code_embeddings(ids);
  ASSERT_EQ(e.shape(), (Shape{2, 2, 8}));
  const std::vector<float> ev = e.to_vector<float>(), cv = cb.to_vector<float>();
  const int64_t rows[] = {0, 31, 7, 7};
  for (int i = 0; i < 4; ++i) {
    double norm = 0;
    for (int d = 0; d < 8; ++d)
      norm += double(cv[size_t(rows[i] * 8 + d)]) * cv[size_t(rows[i] * 8 + d)];
    norm = std::sqrt(norm);
    for (int d = 0; d < 8; ++d)
      EXPECT_NEAR(ev[size_t(i * 8 + d)], cv[size_t(rows[i] * 8 + d)] / norm, 1e-6);
  }
  std::string m = error_message([&] {
    tok->code_embeddings(Tensor::from_vector(std::vector<int64_t>{3, 32}, {1, 2}));
  });
  EXPECT_TRUE(contains(m, "id 32") && contains(m, "codebook_size 32")) << m;
  m = error_message([&] {
    tok->code_embeddings(Tensor::from_vector(std::vector<int32_t>{-1}, {1, 1}));
  });
  EXPECT_TRUE(contains(m, "id -1")) << m;
  m = error_message([&] { tok->code_embeddings(Tensor::zeros({1, 2})); });
  EXPECT_TRUE(contains(m, "i32 or i64")) << m;
}

TEST(SiglipVQ, QuantizeMatchesEncodeAndItsLosses) {
  const auto tok = small();
  const Tensor img = images(2, 16, 24, 3);
  const QuantizedImages q = tok->quantize(img);
  EXPECT_EQ(q.ids.to_vector<int64_t>(), tok->encode(img).to_vector<int64_t>());
  // The codes' values are the chosen codes' embeddings.
  test::expect_close(q.codes.detach(), tok->code_embeddings(q.ids), 1e-6, "codes");
  EXPECT_FALSE(q.continuous.requires_grad());
  // continuous: unit vectors whose nearest code is the id.
  const Tensor cb = tok->code_embeddings(Tensor::arange(32).contiguous());
  const Tensor sims = matmul(reshape(q.continuous, {-1, 8}), transpose(cb, 0, 1));
  EXPECT_EQ(argmax(sims, 1).to_vector<int64_t>(), q.ids.to_vector<int64_t>());
  // The losses by hand: mean over elements of (q - z)^2, weighted 1.0 and 0.25.
  const std::vector<float> c = q.codes.to_vector<float>(), z = q.continuous.to_vector<float>();
  double se = 0;
  for (size_t i = 0; i < c.size(); ++i) se += double(c[i] - z[i]) * double(c[i] - z[i]);
  const double mse = se / double(c.size());
  EXPECT_NEAR(part(q.losses, "vq_codebook"), mse, 1e-6);
  EXPECT_NEAR(part(q.losses, "vq_commitment"), 0.25 * mse, 1e-6);
  EXPECT_NEAR(q.losses.total.item(), 1.25 * mse, 1e-6);
  // Perplexity and distinct codes from the histogram.
  std::map<int64_t, int> hist;
  for (int64_t id : q.ids.to_vector<int64_t>()) ++hist[id];
  double entropy = 0;
  for (const auto& [id, n] : hist) entropy -= n / 12.0 * std::log(n / 12.0);
  EXPECT_NEAR(part(q.losses, "vq_perplexity"), std::exp(entropy), 1e-9);
  EXPECT_EQ(part(q.losses, "vq_used"), double(hist.size()));
  // The total reaches the codebook and (through the commitment term) the encoder.
  q.losses.total.backward();
  auto p = params(*tok);
  ASSERT_TRUE(p.at("quantizer.codebook").grad().defined());
  ASSERT_TRUE(p.at("quantizer.proj.weight").grad().defined());
  ASSERT_TRUE(p.at("vision.blocks.0.attn.q.weight").grad().defined());
  EXPECT_GT(
      sum(mul(p.at("quantizer.proj.weight").grad(), p.at("quantizer.proj.weight").grad())).item(),
      0.0);
}

// A loss on the codes trains the encoder as if it were a loss on the continuous z (straight
// through): the same gradient reaches the projection and the vision tower, and none the codebook.
TEST(SiglipVQ, CodesPassGradientsStraightThroughToTheEncoder) {
  const auto tok = small();
  auto* model = dynamic_cast<siglip_vq::SiglipVQ*>(tok.get());
  ASSERT_NE(model, nullptr);
  const Tensor img = images(2, 16, 16, 8);
  const Tensor w = test::uniform({2, 4, 8}, 9, DType::f32);
  auto p = params(*tok);
  const std::vector<std::string> names = {"quantizer.proj.weight", "vision.patch_embed.weight",
                                          "vision.blocks.1.mlp.fc2.weight"};
  sum(mul(tok->quantize(img).codes, w)).backward();
  std::vector<Tensor> through_codes;
  for (const auto& n : names) through_codes.push_back(p.at(n).grad().clone());
  EXPECT_FALSE(p.at("quantizer.codebook").grad().defined());
  for (auto& [n, t] : p) t.zero_grad();
  const Tensor z = siglip_vq::l2_normalize(
      linear(model->features(img), p.at("quantizer.proj.weight"), p.at("quantizer.proj.bias")));
  sum(mul(z, w)).backward();
  for (size_t i = 0; i < names.size(); ++i)
    test::expect_close(through_codes[i], p.at(names[i]).grad(), 1e-6, names[i]);
}

TEST(SiglipVQ, ContrastiveLossMatchesAHandComputation) {
  const auto tok = small();
  const Tensor img = images(3, 16, 16, 21);
  const std::vector<std::string> texts = {"a red square", "", std::string(40, 'x')};
  const LossTerms terms = tok->contrastive_loss(img, texts);
  const Tensor x = tok->image_embeddings(img), y = tok->text_embeddings(texts);
  ASSERT_EQ(x.shape(), (Shape{3, 16}));
  ASSERT_EQ(y.shape(), (Shape{3, 16}));
  const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (int i = 0; i < 3; ++i) {
    double nx = 0, ny = 0;
    for (int d = 0; d < 16; ++d) nx += xv[size_t(i * 16 + d)] * xv[size_t(i * 16 + d)];
    for (int d = 0; d < 16; ++d) ny += yv[size_t(i * 16 + d)] * yv[size_t(i * 16 + d)];
    EXPECT_NEAR(nx, 1.0, 1e-5);
    EXPECT_NEAR(ny, 1.0, 1e-5);
  }
  // loss = -(1/B) sum_ij log sigmoid(s_ij (10 <x_i, y_j> - 10)); accuracy: argmax_j on i.
  double loss = 0;
  int hits = 0;
  for (int i = 0; i < 3; ++i) {
    int best = 0;
    double best_z = -1e300;
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int d = 0; d < 16; ++d) dot += double(xv[size_t(i * 16 + d)]) * yv[size_t(j * 16 + d)];
      const double z = 10.0 * dot - 10.0, s = i == j ? 1.0 : -1.0;
      loss -= -std::log1p(std::exp(-s * z));
      if (z > best_z) best_z = z, best = j;
    }
    hits += best == i;
  }
  loss /= 3.0;
  EXPECT_NEAR(terms.total.item(), loss, 1e-5 * loss);
  EXPECT_NEAR(part(terms, "siglip_loss"), loss, 1e-5 * loss);
  EXPECT_DOUBLE_EQ(part(terms, "siglip_acc"), hits / 3.0);
  // Gradients reach both towers and the logit scale and bias.
  terms.total.backward();
  const auto p = params(*tok);
  for (const char* n :
       {"vision.patch_embed.weight", "vision.head.weight", "text.token_embed.weight",
        "text.blocks.0.attn.q.weight", "contrastive.logit_scale", "contrastive.logit_bias"})
    EXPECT_TRUE(p.at(n).grad().defined()) << n;
  EXPECT_FALSE(p.at("quantizer.codebook").grad().defined());
  // Captions are bytes truncated to text_max_len (12): a longer one embeds as its first 12 bytes.
  const Tensor long_a = tok->text_embeddings({std::string(12, 'x') + "abc"});
  const Tensor long_b = tok->text_embeddings({std::string(12, 'x') + "zzzzzz"});
  EXPECT_EQ(long_a.to_vector<float>(), long_b.to_vector<float>());
  // Padding is masked: a caption embeds the same alone as beside a longer one.
  const Tensor alone = tok->text_embeddings({"hi"});
  const Tensor batched = tok->text_embeddings({"hi", "a much longer one"});
  test::expect_close(slice(batched, 0, 0, 1), alone, 1e-5, "padded caption");
}

TEST(SiglipVQ, RestartDeadCodesReplacesExactlyTheUnusedRows) {
  const auto a = small(), b = small();
  const Tensor before = params(*a).at("quantizer.codebook").clone();
  std::vector<int64_t> usage(32, 3);
  const std::set<int64_t> dead = {0, 5, 6, 31};
  for (int64_t k : dead) usage[size_t(k)] = 0;
  const Tensor candidates = test::uniform({7, 8}, 4, DType::f32);
  Generator ga(99), gb(99);
  const Tensor u = Tensor::from_vector(usage, {32});
  EXPECT_EQ(a->restart_dead_codes(u, candidates, ga), 4);
  EXPECT_EQ(b->restart_dead_codes(u.to(DType::f32), candidates, gb), 4);  // any numeric dtype
  EXPECT_GT(ga.offset(), 0u) << "the choice was drawn from the generator";
  const std::vector<float> after = params(*a).at("quantizer.codebook").to_vector<float>();
  EXPECT_EQ(after, params(*b).at("quantizer.codebook").to_vector<float>()) << "deterministic";
  const std::vector<float> old = before.to_vector<float>(), cand = candidates.to_vector<float>();
  std::set<int64_t> chosen;
  for (int64_t k = 0; k < 32; ++k) {
    const std::vector<float> row(after.begin() + k * 8, after.begin() + k * 8 + 8);
    if (!dead.count(k)) {
      EXPECT_EQ(row, std::vector<float>(old.begin() + k * 8, old.begin() + k * 8 + 8)) << k;
      continue;
    }
    int64_t match = -1;
    for (int64_t m = 0; m < 7; ++m)
      if (row == std::vector<float>(cand.begin() + m * 8, cand.begin() + m * 8 + 8)) match = m;
    EXPECT_GE(match, 0) << "row " << k << " is a candidate";
    chosen.insert(match);
  }
  EXPECT_GT(chosen.size(), 1u) << "candidates are drawn, not always the first";
  // Another generator state chooses differently; no dead code replaces nothing.
  const auto c = small();
  Generator gc(100);
  c->restart_dead_codes(u, candidates, gc);
  EXPECT_NE(params(*c).at("quantizer.codebook").to_vector<float>(), after);
  Generator gd(1);
  EXPECT_EQ(a->restart_dead_codes(Tensor::ones({32}), candidates, gd), 0);
  EXPECT_EQ(params(*a).at("quantizer.codebook").to_vector<float>(), after);
  std::string m = error_message([&] { a->restart_dead_codes(Tensor::ones({31}), candidates, gd); });
  EXPECT_TRUE(contains(m, "usage") && contains(m, "[31]")) << m;
  m = error_message([&] { a->restart_dead_codes(u, Tensor::zeros({3, 4}), gd); });
  EXPECT_TRUE(contains(m, "candidates") && contains(m, "[3, 4]")) << m;
}

TEST(SiglipVQ, PositionTableFollowsItsFormula) {
  const Tensor t = siglip_vq::sincos_position_embedding_2d(3, 4, 8);
  ASSERT_EQ(t.shape(), (Shape{12, 8}));
  const std::vector<float> v = t.to_vector<float>();
  const int64_t r = 2, c = 3, row = r * 4 + c;  // raster order
  for (int k = 0; k < 2; ++k) {
    const double w = std::pow(10000.0, -k / 2.0);
    EXPECT_NEAR(v[size_t(row * 8 + k)], std::sin(r * w), 1e-6);
    EXPECT_NEAR(v[size_t(row * 8 + 2 + k)], std::cos(r * w), 1e-6);
    EXPECT_NEAR(v[size_t(row * 8 + 4 + k)], std::sin(c * w), 1e-6);
    EXPECT_NEAR(v[size_t(row * 8 + 6 + k)], std::cos(c * w), 1e-6);
  }
  EXPECT_EQ(siglip_vq::byte_tokens("a\xc3\xa9", 8), (std::vector<int64_t>{98, 196, 170}));
  EXPECT_EQ(siglip_vq::byte_tokens("abcdef", 2), (std::vector<int64_t>{98, 99}));
}

// Without the position table (position_scale = 0) the tower treats its patches as a set: swapping
// two patches of an image swaps their continuous vectors and nothing else. With the table (any
// scale above 0) where a patch is changes what it becomes.
TEST(SiglipVQ, PositionScaleZeroMakesPatchesASet) {
  auto tower = [](double scale) {
    const std::string json = std::string(kSmall).substr(0, std::string(kSmall).size() - 1) +
                             ", \"position_scale\": " + std::to_string(scale) + "}";
    return create_image_tokenizer("siglip_vq", context(json));
  };
  const Tensor img = images(1, 16, 16, 21).contiguous();  // a 2 x 2 grid
  Tensor swapped = img.clone();
  {
    // Swap patch (0, 0) and patch (1, 1).
    float* d = swapped.data<float>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 8; ++x)
          std::swap(d[(c * 16 + y) * 16 + x], d[(c * 16 + 8 + y) * 16 + 8 + x]);
  }
  auto largest_swap_error = [&](double scale) {
    const auto tok = tower(scale);
    const std::vector<float> a = tok->quantize(img).continuous.contiguous().to_vector<float>();
    const std::vector<float> b = tok->quantize(swapped).continuous.contiguous().to_vector<float>();
    const int64_t d = 8;                          // code_dim
    const int64_t where_after[4] = {3, 1, 2, 0};  // patch k of img is patch where_after[k]
    double worst = 0;
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t j = 0; j < d; ++j)
        worst = std::max(
            worst, double(std::abs(a[size_t(k * d + j)] - b[size_t(where_after[k] * d + j)])));
    return worst;
  };
  EXPECT_LT(largest_swap_error(0.0), 1e-5);
  EXPECT_GT(largest_swap_error(1.0), 1e-2);
  EXPECT_GT(largest_swap_error(0.1), 1e-3);
  EXPECT_TRUE(contains(create_error(R"({"position_scale": -1})"), "position_scale"));
}

TEST(ResidualAdapter, LoadsAndMatchesAHandComputation) {
  const auto ad =
      create_adapter("residual", context(R"({"in_dim": 3, "out_dim": 4, "hidden": 5})", 7));
  const auto p = params(*ad);
  const std::map<std::string, Shape> expected = {
      {"proj.weight", {4, 3}}, {"proj.bias", {4}}, {"norm.weight", {4}},   {"norm.bias", {4}},
      {"fc1.weight", {5, 4}},  {"fc1.bias", {5}},  {"fc2.weight", {4, 5}}, {"fc2.bias", {4}}};
  ASSERT_EQ(p.size(), expected.size());
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(p.count(name)) << name;
    EXPECT_EQ(p.at(name).shape(), shape) << name;
  }
  // Non-trivial norm and biases, so that every term shows in the output.
  for (const char* n : {"proj.bias", "norm.weight", "norm.bias", "fc1.bias", "fc2.bias"})
    Tensor(p.at(n)).copy_(test::uniform(p.at(n).shape(), 30, DType::f32));
  const Tensor x = test::uniform({2, 3, 3}, 31, DType::f32);
  const Tensor y = ad->forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  auto W = [&](const char* n) { return p.at(n).to(DType::f64).to_vector<double>(); };
  const auto pw = W("proj.weight"), pb = W("proj.bias"), nw = W("norm.weight"), nb = W("norm.bias"),
             w1 = W("fc1.weight"), b1 = W("fc1.bias"), w2 = W("fc2.weight"), b2 = W("fc2.bias");
  const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (int t = 0; t < 6; ++t) {
    double h[4], n[4], a[5];
    for (int o = 0; o < 4; ++o) {
      h[o] = pb[size_t(o)];
      for (int i = 0; i < 3; ++i) h[o] += pw[size_t(o * 3 + i)] * xv[size_t(t * 3 + i)];
    }
    double mu = 0, var = 0;
    for (double v : h) mu += v / 4;
    for (double v : h) var += (v - mu) * (v - mu) / 4;
    for (int o = 0; o < 4; ++o)
      n[o] = (h[o] - mu) / std::sqrt(var + 1e-5) * nw[size_t(o)] + nb[size_t(o)];
    for (int j = 0; j < 5; ++j) {
      double s = b1[size_t(j)];
      for (int o = 0; o < 4; ++o) s += w1[size_t(j * 4 + o)] * n[o];
      a[j] = 0.5 * s * (1 + std::erf(s / std::sqrt(2.0)));
    }
    for (int o = 0; o < 4; ++o) {
      double out = h[o] + b2[size_t(o)];
      for (int j = 0; j < 5; ++j) out += w2[size_t(o * 5 + j)] * a[j];
      EXPECT_NEAR(yv[size_t(t * 4 + o)], out, 1e-5) << t << "," << o;
    }
  }
  // Gradients reach every parameter.
  sum(y).backward();
  for (const auto& [name, t] : p) EXPECT_TRUE(t.grad().defined()) << name;
}

TEST(ResidualAdapter, RefusesBadSettingsAndInputs) {
  std::string m =
      error_message([&] { create_adapter("residual", context(R"({"in_dim": 3, "hidden": 0})")); });
  EXPECT_TRUE(contains(m, "hidden")) << m;
  m = error_message([&] { create_adapter("residual", context(R"({"out_dims": 3})")); });
  EXPECT_TRUE(contains(m, "out_dims") && contains(m, "out_dim")) << m;
  const auto ad = create_adapter("residual", context(R"({"in_dim": 3, "out_dim": 4})"));
  EXPECT_EQ(ad->forward(Tensor::zeros({1, 2, 3})).shape(), (Shape{1, 2, 4}));
  m = error_message([&] { ad->forward(Tensor::zeros({1, 2, 5})); });
  EXPECT_TRUE(contains(m, "in_dim = 3") && contains(m, "[1, 2, 5]")) << m;
  m = error_message([&] { ad->forward(Tensor::zeros({2, 3})); });
  EXPECT_TRUE(contains(m, "[B, N, in_dim")) << m;
  // Same seed, same weights.
  const auto b = create_adapter("residual", context(R"({"in_dim": 3, "out_dim": 4})"));
  EXPECT_EQ(params(*ad).at("fc1.weight").to_vector<float>(),
            params(*b).at("fc1.weight").to_vector<float>());
  const std::vector<FieldSpec> fields = component_settings_fields("adapter", "residual");
  std::set<std::string> keys;
  for (const FieldSpec& f : fields) keys.insert(f.key);
  EXPECT_EQ(keys, (std::set<std::string>{"in_dim", "out_dim", "hidden", "layer_norm_eps"}));
}
