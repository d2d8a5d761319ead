#pragma once
// Qwen2 hyper-parameters, with the field names of a Hugging Face Qwen2 config.json.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/core/tensor/dtype.h"

namespace xomni::qwen2 {

struct Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t max_position_embeddings = 32768;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  std::string torch_dtype;  // config.json's weight dtype ("bfloat16", ...); "" when not given

  // torch_dtype as a DType; nullopt when not given.
  std::optional<DType> weight_dtype() const;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws naming the field when sizes are missing or inconsistent.
  void validate(const std::string& where) const;
  // The number of parameters; throws naming the fields whose product overflows 64 bits.
  int64_t parameter_count(const std::string& where) const;
  static Config from_json_text(const std::string& text, const std::string& where);
  static Config from_json_file(const std::string& path);
  // The fields of a job file's [model] section for this backbone (keys without "model."). Their
  // defaults are a small model's, for jobs; a config.json read by from_json_text keeps Hugging
  // Face's defaults for the fields it leaves out.
  static std::vector<FieldSpec> job_fields();
};

}  // namespace xomni::qwen2
