#pragma once
// X-Omni's unified autoregressive model (XOmniForCausalLM), with the official parameter names:
//   model.lm_embed_tokens [V, H]        text ids (< V) embed here
//   model.mm_embed_tokens [mm_vocab, H] image ids (V + k) embed here at row k
//   model.layers.{i}                    Qwen2 decoder layers (qwen2::DecoderLayer). Layer i is a
//                                       language layer iff num_mm_adap_layers <= i <
//                                       num_hidden_layers - num_mm_head_layers; otherwise a vision
//                                       layer: it runs on every position but only image positions
//                                       keep its output (text positions keep its input)
//   model.lm_norm, model.mm_norm        the final RMSNorm at text / image positions
//   lm_head [V, H], mm_head [mm_vocab, H]  untied heads, no bias
// Logits (plugins::LogitMode): training = this rank's lm_head piece then its mm_head piece
// ([B, T, V/tp + mm_vocab/tp]), scored by token_nll (a text target over lm_head, an image target
// over mm_head's first image_vocab_size rows); text / image = the official rows of width
// V + mm_vocab with the other modality's columns at the lowest float.
#include <memory>
#include <vector>

#include "xomni/parallel/tp_layers.h"
#include "xomni/plugins/components.h"
#include "xomni/qwen2/model.h"
#include "xomni/xomni_model/config.h"

namespace xomni::xomni_model {

using qwen2::Placement;

class XOmniForCausalLM : public plugins::Backbone {
 public:
  // The same seed gives the same (global) weights under any parallel layout. Pipeline stages:
  // the first stage holds every adap layer, the last every head layer.
  XOmniForCausalLM(const Config& cfg, uint64_t seed, const Placement& placement = {});
  const Config& config() const { return cfg_; }

  // plugins::Backbone
  Tensor logits(const Tensor& ids, const plugins::BackboneInputs& inputs) const override;
  int64_t vocab_size() const override { return cfg_.base.vocab_size + cfg_.mm_vocab_size; }
  // Logits columns of this rank: its lm_head piece starts at vocab_start() (text ids); its
  // mm_head piece follows (image ids V + tp_rank * mm_vocab/tp onwards).
  int64_t vocab_start() const override { return tp_.rank() * local_text_vocab(); }
  parallel::ModelDims dims() const override;
  double flops_per_token(int64_t seq_len) const override;
  std::unique_ptr<plugins::DecodeCache> new_cache(int64_t batch, int64_t capacity) const override;
  void load_weights(const TensorMap& weights) override;
  Tensor token_nll(const Tensor& logits, const Tensor& targets) const override;
  std::string init_source(const std::string& name,
                          const std::set<std::string>& source) const override;
  Tensor stage_forward(const Tensor& input, const plugins::BackboneInputs& inputs) const override {
    return logits(input, inputs);
  }
  bool is_first_stage() const override { return first_layer_ == 0; }
  bool is_last_stage() const override { return last_layer_ == cfg_.base.num_hidden_layers; }
  int64_t hidden_size() const override { return cfg_.base.hidden_size; }

  int64_t local_text_vocab() const { return cfg_.base.vocab_size / tp_.size(); }
  int64_t local_mm_vocab() const { return cfg_.mm_vocab_size / tp_.size(); }
  // Greedy decoding of `steps` image codes (ids V + k) after `prompt` (ending in the image
  // prefix <SOM>{h} {w}<IMAGE>), in image mode; with or without the KV cache.
  std::vector<int64_t> generate_image_greedy(const std::vector<int64_t>& prompt, int64_t steps,
                                             bool use_cache) const;

 private:
  void check_layout() const;
  void build(uint64_t seed, const Placement& placement);
  // [B, T, 1] in `like`'s dtype: 1 at image tokens (id >= V), for this rank's sequence chunk.
  Tensor image_mask(const Tensor& ids, const Tensor& like) const;
  Tensor embed(const Tensor& ids) const;
  Tensor heads(const Tensor& x, plugins::LogitMode mode) const;

  Config cfg_;
  parallel::TensorParallel tp_;
  parallel::Communicator* cp_ = nullptr;
  int64_t first_layer_ = 0, last_layer_ = 0;
  parallel::VocabParallelEmbedding* lm_embed_tokens_ = nullptr;
  parallel::VocabParallelEmbedding* mm_embed_tokens_ = nullptr;
  std::vector<qwen2::DecoderLayer*> layers_;  // this stage's, in order
  nn::RMSNorm* lm_norm_ = nullptr;
  nn::RMSNorm* mm_norm_ = nullptr;
  parallel::ColumnParallelLinear* lm_head_ = nullptr;
  parallel::ColumnParallelLinear* mm_head_ = nullptr;
};

}  // namespace xomni::xomni_model
