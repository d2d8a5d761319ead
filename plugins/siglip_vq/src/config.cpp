#include "xomni/siglip_vq/config.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "xomni/core/tensor/error.h"

namespace xomni::siglip_vq {
namespace {

// Reads the keys of a settings object against their FieldSpecs: types and ranges are checked
// here, missing keys keep the struct's defaults, unknown keys are refused with the nearest name.
class Reader {
 public:
  Reader(const std::string& text, const std::string& where, const std::string& what,
         std::vector<FieldSpec> specs)
      : where_(where), schema_(std::move(specs)) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      json_ = nlohmann::json::object();  // no settings: every default
    } else {
      try {
        json_ = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": malformed " + what + " settings (JSON): " + e.what());
      }
    }
    XOMNI_CHECK(json_.is_object(), where, ": ", what, " settings are a JSON object, got ",
                json_.type_name());
    for (const auto& item : json_.items()) {
      if (schema_.find(item.key())) continue;
      const std::string near = schema_.suggest(item.key());
      throw Error(where + ": unknown " + what + " setting '" + item.key() + "'" +
                  (near.empty() ? std::string() : "; did you mean '" + near + "'?"));
    }
  }

  void get(const char* key, int64_t& field) const {
    const nlohmann::json* v = find(key);
    if (!v) return;
    // nlohmann would truncate 64.5 to 64 silently.
    XOMNI_CHECK(v->is_number_integer(), where_, ": setting '", key, "' must be an integer, got ",
                v->dump());
    field = v->get<int64_t>();
    check_range(key, double(field));
  }
  void get(const char* key, double& field) const {
    const nlohmann::json* v = find(key);
    if (!v) return;
    XOMNI_CHECK(v->is_number(), where_, ": setting '", key, "' must be a number, got ", v->dump());
    field = v->get<double>();
    XOMNI_CHECK(std::isfinite(field), where_, ": setting '", key, "' must be finite");
    check_range(key, field);
  }
  void get(const char* key, bool& field) const {
    const nlohmann::json* v = find(key);
    if (!v) return;
    XOMNI_CHECK(v->is_boolean(), where_, ": setting '", key, "' must be true or false, got ",
                v->dump());
    field = v->get<bool>();
  }

 private:
  const nlohmann::json* find(const char* key) const {
    XOMNI_CHECK(schema_.find(key), "siglip_vq: setting '", key, "' has no field spec");
    auto it = json_.find(key);
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }
  void check_range(const char* key, double v) const {
    const std::string problem = schema_.find(key)->range_problem(v);
    XOMNI_CHECK(problem.empty(), where_, ": setting '", key, "' ", problem);
  }

  std::string where_;
  Schema schema_;
  nlohmann::json json_;
};

void positive(const std::string& where, const char* name, int64_t v) {
  XOMNI_CHECK(v > 0, where, ": setting '", name, "' must be positive, got ", v);
}

void divisible(const std::string& where, const char* name, int64_t v, const char* by_name,
               int64_t by) {
  XOMNI_CHECK(v % by == 0, where, ": setting '", name, "' (", v, ") is not divisible by '", by_name,
              "' (", by, ")");
}

}  // namespace

void Config::validate(const std::string& where, int tp_size) const {
  positive(where, "patch_size", patch_size);
  positive(where, "vision_width", vision_width);
  positive(where, "vision_layers", vision_layers);
  positive(where, "vision_heads", vision_heads);
  positive(where, "mlp_ratio", mlp_ratio);
  positive(where, "embed_dim", embed_dim);
  positive(where, "code_dim", code_dim);
  positive(where, "codebook_size", codebook_size);
  XOMNI_CHECK(std::isfinite(commitment_weight) && commitment_weight >= 0, where,
              ": setting 'commitment_weight' must be a finite number >= 0, got ",
              commitment_weight);
  XOMNI_CHECK(std::isfinite(position_scale) && position_scale >= 0, where,
              ": setting 'position_scale' must be a finite number >= 0, got ", position_scale);
  XOMNI_CHECK(std::isfinite(codebook_weight) && codebook_weight >= 0, where,
              ": setting 'codebook_weight' must be a finite number >= 0, got ", codebook_weight);
  XOMNI_CHECK(std::isfinite(layer_norm_eps) && layer_norm_eps > 0, where,
              ": setting 'layer_norm_eps' must be a positive finite number, got ", layer_norm_eps);
  divisible(where, "vision_width", vision_width, "vision_heads", vision_heads);
  XOMNI_CHECK(vision_width % 4 == 0, where, ": setting 'vision_width' (", vision_width,
              ") must be a multiple of 4 for the 2-D sine-cosine position embedding");
  XOMNI_CHECK(tp_size >= 1, where, ": tensor-parallel size ", tp_size);
  XOMNI_CHECK(vision_heads % tp_size == 0, where, ": setting 'vision_heads' (", vision_heads,
              ") is not divisible by the tensor-parallel size ", tp_size);
  XOMNI_CHECK((vision_width * mlp_ratio) % tp_size == 0, where,
              ": the vision MLP width vision_width x mlp_ratio (", vision_width * mlp_ratio,
              ") is not divisible by the tensor-parallel size ", tp_size);
  if (!text_tower) return;
  positive(where, "text_width", text_width);
  positive(where, "text_layers", text_layers);
  positive(where, "text_heads", text_heads);
  positive(where, "text_max_len", text_max_len);
  divisible(where, "text_width", text_width, "text_heads", text_heads);
  XOMNI_CHECK(text_heads % tp_size == 0, where, ": setting 'text_heads' (", text_heads,
              ") is not divisible by the tensor-parallel size ", tp_size);
  XOMNI_CHECK((text_width * mlp_ratio) % tp_size == 0, where,
              ": the text MLP width text_width x mlp_ratio (", text_width * mlp_ratio,
              ") is not divisible by the tensor-parallel size ", tp_size);
}

Config Config::from_json_text(const std::string& text, const std::string& where, int tp_size) {
  const Reader r(text, where, "siglip_vq", fields());
  Config c;
  r.get("patch_size", c.patch_size);
  r.get("vision_width", c.vision_width);
  r.get("vision_layers", c.vision_layers);
  r.get("vision_heads", c.vision_heads);
  r.get("mlp_ratio", c.mlp_ratio);
  r.get("position_scale", c.position_scale);
  r.get("embed_dim", c.embed_dim);
  r.get("code_dim", c.code_dim);
  r.get("codebook_size", c.codebook_size);
  r.get("commitment_weight", c.commitment_weight);
  r.get("codebook_weight", c.codebook_weight);
  r.get("text_tower", c.text_tower);
  r.get("text_width", c.text_width);
  r.get("text_layers", c.text_layers);
  r.get("text_heads", c.text_heads);
  r.get("text_max_len", c.text_max_len);
  r.get("layer_norm_eps", c.layer_norm_eps);
  c.validate(where, tp_size);
  return c;
}

std::vector<FieldSpec> Config::fields() {
  const Config d;
  return {
      int_field("patch_size", d.patch_size, "pixels per patch side (one token per patch)")
          .at_least(1),
      int_field("vision_width", d.vision_width, "vision transformer width").at_least(1),
      int_field("vision_layers", d.vision_layers, "vision transformer blocks").at_least(1),
      int_field("vision_heads", d.vision_heads, "vision attention heads (divide vision_width)")
          .at_least(1),
      int_field("mlp_ratio", d.mlp_ratio, "MLP width as a multiple of the tower's width")
          .at_least(1),
      float_field("position_scale", d.position_scale,
                  "factor on the 2-D sine-cosine position table added to the patch embeddings "
                  "(below 1, codes of a flat background stop naming their place)")
          .at_least(0),
      int_field("embed_dim", d.embed_dim, "contrastive (SigLIP) embedding size").at_least(1),
      int_field("code_dim", d.code_dim, "code embedding size of the quantiser").at_least(1),
      int_field("codebook_size", d.codebook_size, "number of codes (image token vocabulary)")
          .at_least(1),
      float_field("commitment_weight", d.commitment_weight,
                  "weight of the commitment loss mean((sg[q] - z)^2)")
          .at_least(0),
      float_field("codebook_weight", d.codebook_weight,
                  "weight of the codebook loss mean((q - sg[z])^2)")
          .at_least(0),
      bool_field("text_tower", d.text_tower,
                 "build the byte-level text tower for contrastive pretraining"),
      int_field("text_width", d.text_width, "text transformer width").at_least(1),
      int_field("text_layers", d.text_layers, "text transformer blocks").at_least(1),
      int_field("text_heads", d.text_heads, "text attention heads (divide text_width)").at_least(1),
      int_field("text_max_len", d.text_max_len,
                "longest caption in UTF-8 bytes (longer ones are "
                "truncated)")
          .at_least(1),
      float_field("layer_norm_eps", d.layer_norm_eps, "LayerNorm epsilon").greater_than(0),
  };
}

void AdapterConfig::validate(const std::string& where) const {
  positive(where, "in_dim", in_dim);
  positive(where, "out_dim", out_dim);
  positive(where, "hidden", hidden);
  XOMNI_CHECK(std::isfinite(layer_norm_eps) && layer_norm_eps > 0, where,
              ": setting 'layer_norm_eps' must be a positive finite number, got ", layer_norm_eps);
}

AdapterConfig AdapterConfig::from_json_text(const std::string& text, const std::string& where) {
  const Reader r(text, where, "residual adapter", fields());
  AdapterConfig c;
  r.get("in_dim", c.in_dim);
  r.get("out_dim", c.out_dim);
  r.get("hidden", c.hidden);
  r.get("layer_norm_eps", c.layer_norm_eps);
  c.validate(where);
  return c;
}

std::vector<FieldSpec> AdapterConfig::fields() {
  const AdapterConfig d;
  return {
      int_field("in_dim", d.in_dim, "input width (the image tokenizer's code_dim)").at_least(1),
      int_field("out_dim", d.out_dim, "output width (the backbone's hidden_size)").at_least(1),
      int_field("hidden", d.hidden, "width of the residual MLP").at_least(1),
      float_field("layer_norm_eps", d.layer_norm_eps, "LayerNorm epsilon").greater_than(0),
  };
}

}  // namespace xomni::siglip_vq
