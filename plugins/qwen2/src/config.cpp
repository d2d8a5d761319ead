#include "xomni/qwen2/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/shape.h"

namespace xomni::qwen2 {

void Config::validate(const std::string& where) const {
  auto positive = [&](const char* name, int64_t v) {
    XOMNI_CHECK(v > 0, where, ": ", name, " must be positive, got ", v);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  XOMNI_CHECK(hidden_size % num_attention_heads == 0, where, ": hidden_size ", hidden_size,
              " is not divisible by num_attention_heads ", num_attention_heads);
  XOMNI_CHECK(num_attention_heads % num_key_value_heads == 0, where, ": num_attention_heads ",
              num_attention_heads, " is not divisible by num_key_value_heads ",
              num_key_value_heads);
  XOMNI_CHECK(head_dim() % 2 == 0, where, ": head dimension ", head_dim(),
              " must be even for rotary embeddings");
  positive("max_position_embeddings", max_position_embeddings);
  XOMNI_CHECK(std::isfinite(rope_theta) && rope_theta > 0, where,
              ": rope_theta must be a positive finite number, got ", rope_theta);
  XOMNI_CHECK(std::isfinite(rms_norm_eps) && rms_norm_eps > 0, where,
              ": rms_norm_eps must be a positive finite number, got ", rms_norm_eps);
  try {
    weight_dtype();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  // Every weight's element count and the model's byte count must fit in 64 bits before anything
  // is sized from them (a sum or product that wraps would allocate garbage).
  parameter_count(where);
}

std::optional<DType> Config::weight_dtype() const {
  if (torch_dtype.empty()) return std::nullopt;
  if (torch_dtype == "float32") return DType::f32;
  if (torch_dtype == "bfloat16") return DType::bf16;
  if (torch_dtype == "float16") return DType::f16;
  if (torch_dtype == "float64") return DType::f64;
  throw Error("torch_dtype '" + torch_dtype +
              "' is not one of float32, bfloat16, float16, float64");
}

int64_t Config::parameter_count(const std::string& where) const {
  auto mul = [&](int64_t a, int64_t b, const char* what) {
    return checked_mul(a, b, where + ": " + what);
  };
  auto add = [&](int64_t a, int64_t b) { return checked_add(a, b, where + ": parameter count"); };
  const int64_t h = hidden_size, kv = mul(num_key_value_heads, head_dim(),
                                          "num_key_value_heads x "
                                          "head dimension");
  const int64_t embed = mul(vocab_size, h, "vocab_size x hidden_size");
  const int64_t mlp = mul(3, mul(intermediate_size, h, "intermediate_size x hidden_size"),
                          "3 x intermediate_size x hidden_size");
  const int64_t attn =
      add(add(mul(2, mul(h, h, "hidden_size x hidden_size"), "2 x hidden_size^2"),
              mul(2, mul(kv, h, "key/value width x hidden_size"), "2 x key/value width x hidden")),
          add(h, 2 * kv));                           // q, o, k, v and the q/k/v biases
  const int64_t layer = add(add(attn, mlp), 2 * h);  // + two RMSNorm weights
  int64_t total = add(mul(num_hidden_layers, layer, "num_hidden_layers x layer parameters"), h);
  total = add(total, tie_word_embeddings ? embed : mul(2, embed, "2 x vocab_size x hidden_size"));
  mul(total, 8, "parameter bytes");  // f64 copies and optimizer state are sized from it too
  return total;
}

Config Config::from_json_text(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": malformed JSON: " + e.what());
  }
  XOMNI_CHECK(j.is_object(), where, ": a Qwen2 config is a JSON object, got ", j.type_name());
  Config c;
  auto read = [&](const char* key, auto& field, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      XOMNI_CHECK(!required, where, ": required field '", key, "' is missing");
      return;
    }
    using T = std::remove_reference_t<decltype(field)>;
    if constexpr (std::is_same_v<T, int64_t>)  // nlohmann would truncate 64.5 to 64 silently
      XOMNI_CHECK(j[key].is_number_integer(), where, ": field '", key, "' must be an integer, got ",
                  j[key].dump());
    if constexpr (std::is_same_v<T, double>)
      XOMNI_CHECK(j[key].is_number(), where, ": field '", key, "' must be a number, got ",
                  j[key].dump());
    try {
      j.at(key).get_to(field);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": field '" + key + "' has the wrong type: " + e.what());
    }
  };
  read("vocab_size", c.vocab_size, true);
  read("hidden_size", c.hidden_size, true);
  read("intermediate_size", c.intermediate_size, true);
  read("num_hidden_layers", c.num_hidden_layers, true);
  read("num_attention_heads", c.num_attention_heads, true);
  c.num_key_value_heads = c.num_attention_heads;
  read("num_key_value_heads", c.num_key_value_heads, false);
  read("max_position_embeddings", c.max_position_embeddings, false);
  read("rope_theta", c.rope_theta, false);
  read("rms_norm_eps", c.rms_norm_eps, false);
  read("tie_word_embeddings", c.tie_word_embeddings, false);
  read("torch_dtype", c.torch_dtype, false);
  c.validate(where);
  return c;
}

std::vector<FieldSpec> Config::job_fields() {
  return {
      required_field("vocab_size", FieldType::integer, "vocabulary size"),
      int_field("hidden_size", 64, "model width"),
      int_field("intermediate_size", 176, "SwiGLU MLP width"),
      int_field("num_hidden_layers", 2, "decoder layers"),
      int_field("num_attention_heads", 4, "query heads"),
      int_field("num_key_value_heads", 2, "key/value heads (grouped-query attention)"),
      int_field("max_position_embeddings", 4096, "longest position"),
      float_field("rope_theta", 10000.0, "RoPE base"),
      float_field("rms_norm_eps", 1e-6, "RMSNorm epsilon"),
      bool_field("tie_word_embeddings", true, "share the input embedding with the LM head"),
  };
}

Config Config::from_json_file(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open config ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

}  // namespace xomni::qwen2
