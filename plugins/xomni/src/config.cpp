#include "xomni/xomni_model/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "xomni/core/tensor/error.h"

namespace xomni::xomni_model {

void Config::validate(const std::string& where) const {
  base.validate(where);
  const int64_t L = base.num_hidden_layers;
  XOMNI_CHECK(num_mm_adap_layers >= 0, where, ": num_mm_adap_layers must be >= 0, got ",
              num_mm_adap_layers);
  XOMNI_CHECK(num_mm_head_layers >= 0, where, ": num_mm_head_layers must be >= 0, got ",
              num_mm_head_layers);
  XOMNI_CHECK(num_mm_adap_layers + num_mm_head_layers <= L, where, ": num_mm_adap_layers (",
              num_mm_adap_layers, ") + num_mm_head_layers (", num_mm_head_layers,
              ") exceeds num_hidden_layers (", L, ")");
  XOMNI_CHECK(mm_vocab_size > 0, where, ": mm_vocab_size must be positive, got ", mm_vocab_size);
  XOMNI_CHECK(image_vocab_size > 0 && image_vocab_size <= mm_vocab_size, where,
              ": image_vocab_size must be in [1, mm_vocab_size=", mm_vocab_size, "], got ",
              image_vocab_size);
  XOMNI_CHECK(!base.tie_word_embeddings, where,
              ": tie_word_embeddings=true is not an X-Omni model (lm_head and mm_head are "
              "separate from the embeddings); set tie_word_embeddings = false");
  XOMNI_CHECK(mm_vocab_size <= (int64_t(1) << 40), where, ": mm_vocab_size ", mm_vocab_size,
              " is implausibly large");
}

Config Config::from_json_text(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": malformed JSON: " + e.what());
  }
  XOMNI_CHECK(j.is_object(), where, ": an X-Omni config is a JSON object, got ", j.type_name());
  if (j.contains("model_type")) {
    const nlohmann::json& t = j["model_type"];
    XOMNI_CHECK(t.is_string() && t.get<std::string>() == "x-omni", where, ": model_type is ",
                t.dump(),
                ", not \"x-omni\"; this is not an X-Omni config (use the backbone "
                "plugin of that model type, e.g. qwen2 for \"qwen2\")");
  }
  Config c;
  c.base = qwen2::Config::from_json_text(text, where);
  auto read_int = [&](const char* key, int64_t& field, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      XOMNI_CHECK(!required, where, ": required field '", key, "' is missing");
      return;
    }
    XOMNI_CHECK(j[key].is_number_integer(), where, ": field '", key, "' must be an integer, got ",
                j[key].dump());
    field = j[key].get<int64_t>();
  };
  read_int("num_mm_adap_layers", c.num_mm_adap_layers, false);
  read_int("num_mm_head_layers", c.num_mm_head_layers, false);
  read_int("mm_vocab_size", c.mm_vocab_size, true);
  read_int("image_vocab_size", c.image_vocab_size, true);
  if (j.contains("mm_special_tokens") && !j["mm_special_tokens"].is_null()) {
    const nlohmann::json& s = j["mm_special_tokens"];
    XOMNI_CHECK(s.is_array() && s.size() == 3, where,
                ": mm_special_tokens must be a list of three strings (<SOM>, <EOM>, <IMAGE>), got ",
                s.dump());
    c.mm_special_tokens.clear();
    for (const auto& t : s) {
      XOMNI_CHECK(t.is_string(), where, ": mm_special_tokens must hold strings, got ", t.dump());
      c.mm_special_tokens.push_back(t.get<std::string>());
    }
  }
  c.validate(where);
  return c;
}

Config Config::from_json_file(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open config ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

std::vector<FieldSpec> Config::job_fields() {
  std::vector<FieldSpec> fields;
  for (FieldSpec& f : qwen2::Config::job_fields())
    fields.push_back(f.key == "tie_word_embeddings"
                         ? bool_field("tie_word_embeddings", false,
                                      "must stay false: X-Omni's heads are not tied")
                         : std::move(f));
  fields.push_back(
      int_field("num_mm_adap_layers", 1, "vision layers before the language layers").at_least(0));
  fields.push_back(
      int_field("num_mm_head_layers", 1, "vision layers after the language layers").at_least(0));
  fields.push_back(required_field("mm_vocab_size", FieldType::integer,
                                  "rows of mm_embed_tokens and mm_head (>= image_vocab_size)")
                       .at_least(1));
  fields.push_back(required_field("image_vocab_size", FieldType::integer,
                                  "image codes (the image tokenizer's codebook size)")
                       .at_least(1));
  return fields;
}

}  // namespace xomni::xomni_model
