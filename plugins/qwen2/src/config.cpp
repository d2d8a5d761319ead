#include "xomni/qwen2/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "xomni/core/tensor/error.h"

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
  XOMNI_CHECK(rope_theta > 0 && rms_norm_eps > 0, where,
              ": rope_theta and rms_norm_eps must be positive");
}

Config Config::from_json_text(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": malformed JSON: " + e.what());
  }
  Config c;
  auto read = [&](const char* key, auto& field, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      XOMNI_CHECK(!required, where, ": required field '", key, "' is missing");
      return;
    }
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
