#pragma once
// X-Omni hyper-parameters (XOmniConfig): a Qwen2 config.json plus the fields of the vision
// layers and the image vocabulary, with the official field names.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/qwen2/config.h"

namespace xomni::xomni_model {

struct Config {
  qwen2::Config base;              // the decoder's sizes; base.vocab_size is the text vocabulary V
  int64_t num_mm_adap_layers = 4;  // vision layers before the language layers
  int64_t num_mm_head_layers = 4;  // vision layers after them
  int64_t mm_vocab_size = 0;       // rows of model.mm_embed_tokens and mm_head
  int64_t image_vocab_size = 0;    // image codes (the first image_vocab_size of mm_vocab_size)
  std::vector<std::string> mm_special_tokens = {"<SOM>", "<EOM>", "<IMAGE>"};

  int64_t text_vocab_size() const { return base.vocab_size; }
  // Layer i is a language layer iff num_mm_adap_layers <= i < L - num_mm_head_layers.
  bool is_vision_layer(int64_t i) const {
    return i < num_mm_adap_layers || i >= base.num_hidden_layers - num_mm_head_layers;
  }
  // Throws naming the field when sizes are missing or inconsistent.
  void validate(const std::string& where) const;
  // From config.json text (model_type, when given, must be "x-omni") or a job's [model] settings.
  static Config from_json_text(const std::string& text, const std::string& where);
  static Config from_json_file(const std::string& path);
  // A job file's [model] fields: Qwen2's (untied by default: X-Omni never ties) and the
  // X-Omni ones, with small defaults.
  static std::vector<FieldSpec> job_fields();
};

}  // namespace xomni::xomni_model
