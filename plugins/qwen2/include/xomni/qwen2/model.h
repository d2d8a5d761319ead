#pragma once
// The Qwen2 decoder-only transformer: token embedding, N blocks of (RMSNorm, grouped-query
// attention with QKV bias and RoPE, residual, RMSNorm, SwiGLU MLP, residual), final RMSNorm and
// an LM head (tied to the embedding when configured). Parameter names match Hugging Face's.
// Tensor parallelism (Megatron-style) splits the heads, the MLP width and the vocabulary over the
// tp group; each parameter's Sharding says where its piece sits in the global weight.
#include <memory>
#include <vector>

#include "xomni/core/io/safetensors.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/tp_layers.h"
#include "xomni/plugins/components.h"
#include "xomni/qwen2/config.h"

namespace xomni::qwen2 {

// Keys and values of every layer for incremental decoding: [B, Hkv, capacity, head_dim] each.
struct KVCache : plugins::DecodeCache {
  KVCache(const Config& cfg, int64_t batch, int64_t capacity);
  std::vector<Tensor> k, v;
  int64_t length = 0;  // tokens already cached
  int64_t capacity;
};

using parallel::TensorParallel;

// Where one model instance sits in a parallel layout: its tensor-parallel group, its
// context-parallel group (sequences split over ranks; attention becomes ring attention) and its
// pipeline stage (the blocks [first_layer, last_layer); last_layer < 0 means to the end).
struct Placement {
  TensorParallel tp;
  parallel::Communicator* cp = nullptr;
  int64_t first_layer = 0, last_layer = -1;
};

class Attention : public nn::Module {
 public:
  Attention(const Config& cfg, const Placement& placement, Generator& gen);
  Attention(const Config& cfg, const TensorParallel& tp, parallel::Communicator* cp,
            Generator& gen);
  // x [B, T, hidden]; positions [T] or [B, T]; with a cache, appends this step's K/V to layer
  // `layer` of the cache and attends over everything cached so far.
  Tensor operator()(const Tensor& x, const Tensor& positions, const AttentionOptions& mask,
                    KVCache* cache, int64_t layer) const;

 private:
  const Config& cfg_;
  TensorParallel tp_;
  parallel::Communicator* cp_;
  int64_t heads_, kv_heads_;  // on this rank
  parallel::ColumnParallelLinear &q_proj_, &k_proj_, &v_proj_;
  parallel::RowParallelLinear& o_proj_;
};

class MLP : public nn::Module {
 public:
  MLP(const Config& cfg, const TensorParallel& tp, Generator& gen);
  Tensor operator()(const Tensor& x) const;

 private:
  TensorParallel tp_;
  parallel::ColumnParallelLinear &gate_proj_, &up_proj_;
  parallel::RowParallelLinear& down_proj_;
};

class DecoderLayer : public nn::Module {
 public:
  DecoderLayer(const Config& cfg, const Placement& placement, Generator& gen);
  Tensor operator()(const Tensor& x, const Tensor& positions, const AttentionOptions& mask,
                    KVCache* cache, int64_t layer) const;

 private:
  nn::RMSNorm& input_layernorm_;
  Attention& self_attn_;
  nn::RMSNorm& post_attention_layernorm_;
  MLP& mlp_;
  double rms_norm_eps_;  // post_attention_layernorm_'s, for the fused residual add + norm
};

struct ForwardOptions {
  // [B, P, hidden_size] in the embedding's dtype: placed before the embedded ids on the first
  // pipeline stage (later stages ignore it: their hidden states already hold the P positions).
  // The logits then cover P + T positions, and positions and segment_ids (when given) cover them
  // too; the default positions are 0..P+T-1. With a cache, the prefix enters it together with the
  // ids of this call (the next call passes new ids only). Under tensor parallelism the prefix is
  // replicated on every tp rank and each rank's gradient is the whole one; with sequence
  // parallelism P + T must divide by tp. Not supported under context parallelism.
  Tensor prefix_embeddings;
  Tensor positions;    // [T] or [B, T]; default 0..T-1 (offset by the cache length)
  Tensor segment_ids;  // [B, T] packed documents; attention stays within a document
  KVCache* cache = nullptr;
  bool checkpoint_layers = false;  // recompute each block's activations in backward
};

class CausalLM : public plugins::Backbone {
 public:
  // The same seed gives the same (global) weights under any parallel layout.
  CausalLM(const Config& cfg, uint64_t seed, const TensorParallel& tp = {});
  CausalLM(const Config& cfg, uint64_t seed, const Placement& placement);
  const Config& config() const { return cfg_; }
  const TensorParallel& tensor_parallel() const { return tp_; }
  // ids [B, T] (i32/i64) -> logits [B, T, vocab/tp] for this rank's vocabulary range, which
  // starts at vocab_start() ([B, P + T, vocab/tp] with opt.prefix_embeddings [B, P, hidden]).
  // With sequence parallelism T (P + T) must divide by tp. On a pipeline stage: the stage's part
  // (see plugins::Backbone::stage_forward).
  Tensor operator()(const Tensor& input, const ForwardOptions& opt = {}) const;
  int64_t vocab_start() const override { return tp_.rank() * local_vocab(); }
  int64_t local_vocab() const { return cfg_.vocab_size / tp_.size(); }
  // Copies weights by Hugging Face name (converting dtype); tensors are global, each rank takes
  // its piece. Throws one error listing every missing, unexpected and mis-shaped tensor.
  void load_weights(const TensorMap& weights) override;

  // plugins::Backbone
  Tensor logits(const Tensor& ids, const plugins::BackboneInputs& inputs) const override;
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  parallel::ModelDims dims() const override;
  double flops_per_token(int64_t seq_len) const override;
  std::unique_ptr<plugins::DecodeCache> new_cache(int64_t batch, int64_t capacity) const override;
  Tensor token_nll(const Tensor& logits, const Tensor& targets) const override;
  Tensor stage_forward(const Tensor& input, const plugins::BackboneInputs& inputs) const override {
    return logits(input, inputs);
  }
  // The final norm, then the head fused with the loss (vocabulary-parallel under tp): no logits.
  Tensor stage_token_nll(const Tensor& input, const Tensor& targets,
                         const plugins::BackboneInputs& inputs) const override;
  bool is_first_stage() const override { return first_layer_ == 0; }
  bool is_last_stage() const override { return last_layer_ == cfg_.num_hidden_layers; }
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  // Greedy decoding of `steps` tokens after `prompt` [1, T]; with or without the KV cache.
  std::vector<int64_t> generate_greedy(const std::vector<int64_t>& prompt, int64_t steps,
                                       bool use_cache) const;

 private:
  void build(uint64_t seed, const Placement& placement);  // the modules, after the checks
  void check_prefix(const ForwardOptions& opt, const Tensor& ids) const;
  // [prefix, embedded ids] along the sequence (this rank's chunk under sequence parallelism).
  Tensor embed_with_prefix(const Tensor& ids, const Tensor& prefix) const;
  // operator() up to the head: the stage's output, after the final norm on the last stage.
  Tensor hidden_states(const Tensor& input, const ForwardOptions& opt) const;
  // The head's weight rows of this rank, [vocab/tp, hidden] (the embedding's when tied).
  const Tensor& head_weight() const;

  Config cfg_;
  TensorParallel tp_;
  parallel::Communicator* cp_ = nullptr;
  int64_t first_layer_ = 0, last_layer_ = 0;
  nn::Module* model_;
  parallel::VocabParallelEmbedding* embed_tokens_ = nullptr;
  std::vector<DecoderLayer*> layers_;
  nn::RMSNorm* norm_ = nullptr;
  parallel::ColumnParallelLinear* lm_head_ = nullptr;
};

}  // namespace xomni::qwen2
