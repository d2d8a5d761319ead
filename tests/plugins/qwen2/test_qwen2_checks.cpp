// Qwen2 settings and weights that would make garbage or crash are refused naming the field or
// tensor: sizes that are zero, negative, fractional or whose products overflow 64 bits, a KV cache
// beyond max_position_embeddings, weights of the wrong dtype or with NaN, and a stored LM head
// that a tied model would silently ignore.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "check.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/qwen2/model.h"

using namespace xomni;
using test::contains;
using test::error_message;

namespace {
const std::string kDir = std::string(XOMNI_FIXTURE_DIR) + "/qwen2_tiny";

// The tiny fixture's config.json with one field replaced (raw JSON text for the value).
std::string config_with(const std::string& key, const std::string& value) {
  std::map<std::string, std::string> f = {{"vocab_size", "96"},
                                          {"hidden_size", "32"},
                                          {"intermediate_size", "64"},
                                          {"num_hidden_layers", "2"},
                                          {"num_attention_heads", "4"},
                                          {"num_key_value_heads", "2"},
                                          {"max_position_embeddings", "128"},
                                          {"tie_word_embeddings", "false"}};
  f[key] = value;
  std::string text = "{";
  for (const auto& [k, v] : f) text += (text.size() > 1 ? ", \"" : "\"") + k + "\": " + v;
  return text + "}";
}

std::string config_error(const std::string& key, const std::string& value) {
  return error_message([&] { qwen2::Config::from_json_text(config_with(key, value), "cfg.json"); });
}
}  // namespace

TEST(Qwen2Checks, BadSizesAreRefusedNamingTheField) {
  EXPECT_NO_THROW(qwen2::Config::from_json_text(config_with("vocab_size", "96"), "cfg.json"));
  const std::pair<const char*, const char*> cases[] = {
      {"num_hidden_layers", "0"},
      {"num_hidden_layers", "-3"},
      {"max_position_embeddings", "0"},
      {"max_position_embeddings", "-1"},
      {"hidden_size", "0"},
      {"hidden_size", "64.5"},
      {"intermediate_size", "-64"},
      {"vocab_size", "0"},
      {"vocab_size", "\"96\""},
      {"num_attention_heads", "0"},
      {"num_key_value_heads", "3"},
      {"num_attention_heads", "5"},
      {"rope_theta", "-1"},
      {"rms_norm_eps", "0"},
  };
  for (const auto& [key, value] : cases) {
    const std::string m = config_error(key, value);
    EXPECT_TRUE(contains(m, "cfg.json")) << key << "=" << value << ": " << m;
    EXPECT_TRUE(contains(m, key)) << key << "=" << value << ": " << m;
  }
  EXPECT_TRUE(contains(error_message([] { qwen2::Config::from_json_text("null", "cfg.json"); }),
                       "JSON object"));
}

TEST(Qwen2Checks, SizesWhoseProductsOverflowAreRefusedBeforeAllocating) {
  const std::string big = std::to_string(int64_t(1) << 62);
  // hidden_size = 2^62 (with 4 heads, even head_dim): vocab_size x hidden_size overflows.
  std::string m = config_error("hidden_size", big);
  EXPECT_TRUE(contains(m, "hidden_size")) << m;
  EXPECT_TRUE(contains(m, "overflows 64 bits")) << m;
  m = config_error("vocab_size", big);
  EXPECT_TRUE(contains(m, "vocab_size")) << m;
  EXPECT_TRUE(contains(m, "overflows 64 bits")) << m;
  m = config_error("intermediate_size", big);
  EXPECT_TRUE(contains(m, "intermediate_size")) << m;
  m = config_error("num_hidden_layers", std::to_string(int64_t(1) << 60));
  EXPECT_TRUE(contains(m, "num_hidden_layers")) << m;
}

TEST(Qwen2Checks, ModelTooLargeForMemoryNamesItsSettings) {
  // 2^30 x 2^20 x 4 bytes = 4 PiB of embedding: fits in 64 bits, not in any machine.
  qwen2::Config c = qwen2::Config::from_json_text(config_with("vocab_size", "1073741824"), "c");
  c.hidden_size = int64_t(1) << 20;
  const std::string m = error_message([&] { qwen2::CausalLM lm(c, 1); });
  EXPECT_TRUE(contains(m, "out of memory")) << m;
  EXPECT_TRUE(contains(m, "vocab_size=1073741824")) << m;
  EXPECT_TRUE(contains(m, "hidden_size=1048576")) << m;
}

TEST(Qwen2Checks, KvCacheBeyondMaxPositionsIsRefused) {
  const qwen2::CausalLM lm(qwen2::Config::from_json_file(kDir + "/config.json"), 1);
  EXPECT_NE(lm.new_cache(1, 128), nullptr);
  for (int64_t cap : {int64_t(129), int64_t(1) << 58}) {
    const std::string m = error_message([&] { lm.new_cache(1, cap); });
    EXPECT_TRUE(contains(m, "max_position_embeddings=128")) << m;
  }
  EXPECT_TRUE(contains(error_message([&] { lm.new_cache(1, -5); }), "capacity"));
}

TEST(Qwen2Checks, WeightsOfTheWrongDtypeOrNotFiniteAreRefusedNamingTheTensor) {
  const qwen2::Config cfg = qwen2::Config::from_json_file(kDir + "/config.json");
  TensorMap w = load_safetensors_any(kDir);
  w["model.norm.weight"] = w["model.norm.weight"].to(DType::i32);
  Tensor q = w["model.layers.1.self_attn.q_proj.weight"].clone();
  q.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  q.data<float>()[6] = std::numeric_limits<float>::infinity();
  w["model.layers.1.self_attn.q_proj.weight"] = q;
  qwen2::CausalLM lm(cfg, 1);
  const std::string m = error_message([&] { lm.load_weights(w); });
  EXPECT_TRUE(contains(m, "wrong dtype (1)")) << m;
  EXPECT_TRUE(contains(m, "model.norm.weight (i32")) << m;
  EXPECT_TRUE(contains(m, "not finite (1)")) << m;
  EXPECT_TRUE(contains(m, "model.layers.1.self_attn.q_proj.weight (2 NaN or infinite")) << m;
}

TEST(Qwen2Checks, WeightsThatDisagreeWithTorchDtypeAreRefused) {
  const std::string text = config_with("torch_dtype", "\"bfloat16\"");
  const qwen2::Config cfg = qwen2::Config::from_json_text(text, "cfg.json");
  EXPECT_TRUE(cfg.weight_dtype() == DType::bf16);
  qwen2::CausalLM lm(cfg, 1);
  const std::string m = error_message([&] { lm.load_weights(load_safetensors_any(kDir)); });
  EXPECT_TRUE(contains(m, "wrong dtype")) << m;
  EXPECT_TRUE(contains(m, "torch_dtype=bfloat16")) << m;
  EXPECT_TRUE(contains(config_error("torch_dtype", "\"float8\""), "torch_dtype"));
}

TEST(Qwen2Checks, TiedModelRefusesAStoredHeadThatDiffersFromTheEmbedding) {
  qwen2::Config cfg = qwen2::Config::from_json_file(kDir + "/config.json");
  cfg.tie_word_embeddings = true;
  TensorMap w = load_safetensors_any(kDir);  // holds its own lm_head.weight
  ASSERT_TRUE(w.count("lm_head.weight"));
  qwen2::CausalLM lm(cfg, 1);
  const std::string m = error_message([&] { lm.load_weights(w); });
  EXPECT_TRUE(contains(m, "lm_head.weight")) << m;
  EXPECT_TRUE(contains(m, "tie_word_embeddings")) << m;
  // A stored head equal to the embedding (some exporters write one) loads.
  w["lm_head.weight"] = w.at("model.embed_tokens.weight").clone();
  EXPECT_NO_THROW(lm.load_weights(w));
  w.erase("lm_head.weight");
  EXPECT_NO_THROW(lm.load_weights(w));
}
