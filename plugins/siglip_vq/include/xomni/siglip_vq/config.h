#pragma once
// Settings of the siglip_vq image tokenizer and of the residual adapter: JSON objects whose keys
// are the fields below (every one optional, with the defaults of a tiny 64x64 world).
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"

namespace xomni::siglip_vq {

struct Config {
  // Vision tower (a ViT over patch_size x patch_size patches).
  int64_t patch_size = 8;
  int64_t vision_width = 128;
  int64_t vision_layers = 4;
  int64_t vision_heads = 4;
  int64_t mlp_ratio = 4;  // MLP width = mlp_ratio x the tower's width (both towers)
  // Factor on the fixed 2-D sine-cosine position table added to the patch embeddings. At 1 a
  // young tower's features, and so its codes, are mostly where a patch is (docs/CODEC.md).
  double position_scale = 1.0;
  // Contrastive (SigLIP) embeddings.
  int64_t embed_dim = 128;
  // Vector quantiser.
  int64_t code_dim = 64;
  int64_t codebook_size = 512;
  double commitment_weight = 0.25;
  double codebook_weight = 1.0;
  // Text tower (byte-level tokens); text_tower = false builds none (no contrastive training).
  bool text_tower = true;
  int64_t text_width = 128;
  int64_t text_layers = 2;
  int64_t text_heads = 4;
  int64_t text_max_len = 96;
  double layer_norm_eps = 1e-6;

  // Throws naming the setting when a size is out of range or inconsistent; `tp_size` must divide
  // the heads and MLP widths of both towers.
  void validate(const std::string& where, int tp_size = 1) const;
  // Parses a JSON object (missing keys keep their defaults; unknown keys are refused) and
  // validates it.
  static Config from_json_text(const std::string& text, const std::string& where, int tp_size = 1);
  // The settings with defaults, docs and ranges (for a job's [model.image_tokenizer] section).
  static std::vector<FieldSpec> fields();
};

struct AdapterConfig {
  int64_t in_dim = 64;   // the code embeddings' width (the tokenizer's code_dim)
  int64_t out_dim = 64;  // the backbone's hidden size
  int64_t hidden = 256;  // the residual MLP's width
  double layer_norm_eps = 1e-5;

  void validate(const std::string& where) const;
  static AdapterConfig from_json_text(const std::string& text, const std::string& where);
  static std::vector<FieldSpec> fields();
};

}  // namespace xomni::siglip_vq
