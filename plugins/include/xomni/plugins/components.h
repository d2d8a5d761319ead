#pragma once
// The model-component interfaces a plugin implements, one per kind. The job file names the plugin
// for each component; the registry (component_registry.h) loads it and calls its factory with a
// ComponentContext. Kinds and what they do in an X-Omni model:
//   text_tokenizer     text <-> token ids
//   image_tokenizer    image -> discrete semantic tokens (ViT encoder + VQ codebook)
//   backbone           the decoder-only transformer over the unified token sequence
//   vision_blocks      transformer blocks applied to image-token positions only
//   adapter            maps image-token embeddings into the backbone's width
//   diffusion_decoder  image tokens (their code embeddings) -> pixels
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xomni/core/io/safetensors.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/tensor_parallel.h"
#include "xomni/parallel/topology.h"
#include "xomni/plugins/component_abi.h"

namespace xomni::plugins {

// What a factory receives.
struct ComponentContext {
  std::string config_json;      // the component's settings as a JSON object
  std::string where;            // where they came from, for error messages ("job.toml [model]")
  uint64_t seed = 0;            // initialisation seed (same weights under any parallel layout)
  parallel::TensorParallel tp;  // the tensor-parallel group (one rank by default)
  // The context-parallel group (sequences split over ranks, ring attention); nullptr = one rank.
  parallel::Communicator* cp = nullptr;
  // Pipeline stage: the blocks [first_layer, last_layer) of the model (last_layer < 0: to the
  // end). The stage with block 0 also holds the input embeddings, the one with the last block the
  // final norm and the output head.
  int64_t first_layer = 0, last_layer = -1;
};

class Component {
 public:
  virtual ~Component() = default;
};

// ---- text_tokenizer ----
// Settings: {"path": "tokenizer.json"} loads one; {"train_texts": [...], "vocab_size": N,
// "special_tokens": [...]} trains one on the texts (documents).
class TextTokenizer : public Component {
 public:
  // allow_special: special-token text (e.g. "<|endoftext|>") becomes its id; otherwise plain text.
  virtual std::vector<int64_t> encode(std::string_view text, bool allow_special) const = 0;
  // skip_special: special tokens are left out of the text.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual void save(const std::string& path) const = 0;
};

// ---- backbone ----
// State kept between decoding steps (a KV cache).
class DecodeCache {
 public:
  virtual ~DecodeCache() = default;
};

struct BackboneInputs {
  Tensor positions;    // [T] or [B, T]; default 0..T-1 (after what the cache holds)
  Tensor segment_ids;  // [B, T] packed documents; attention stays inside a document
  DecodeCache* cache = nullptr;
  bool checkpoint_layers = false;  // recompute each block's activations in backward
};

// A decoder-only language model. Parameters carry their Sharding, so checkpoints hold global
// tensors. Settings: the model's hyper-parameters with Hugging Face field names.
class Backbone : public Component, public nn::Module {
 public:
  // ids [B, T] -> logits [B, T, vocab_size()/tp] for this rank's vocabulary range starting at
  // vocab_start().
  virtual Tensor logits(const Tensor& ids, const BackboneInputs& inputs) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t vocab_start() const = 0;
  // The sizes a parallel layout must divide.
  virtual parallel::ModelDims dims() const = 0;
  // Model FLOPs per token of a training step (forward + backward) at this sequence length.
  virtual double flops_per_token(int64_t seq_len) const = 0;
  // A cache for `batch` sequences of up to `capacity` tokens (one rank).
  virtual std::unique_ptr<DecodeCache> new_cache(int64_t batch, int64_t capacity) const = 0;
  // Copies weights by their global names; throws listing missing/unexpected/mis-shaped ones.
  virtual void load_weights(const TensorMap& weights) = 0;

  // Pipeline stages. stage_forward runs this stage's part of logits(): token ids [B, T] on the
  // first stage, otherwise the previous stage's hidden states; returns hidden states [B, T, d]
  // (T the local length under sequence parallelism), or the logits on the last stage.
  virtual Tensor stage_forward(const Tensor& input, const BackboneInputs& inputs) const = 0;
  virtual bool is_first_stage() const = 0;
  virtual bool is_last_stage() const = 0;
  virtual int64_t hidden_size() const = 0;
};

// ---- image_tokenizer ----
class ImageTokenizer : public Component, public nn::Module {
 public:
  // images [B, 3, H, W] in [0, 1] -> token ids [B, h*w] (row-major grid of h x w).
  virtual Tensor encode(const Tensor& images) const = 0;
  // ids [B, N] -> code embeddings [B, N, code_dim] (what the diffusion decoder consumes).
  virtual Tensor code_embeddings(const Tensor& ids) const = 0;
  virtual int64_t codebook_size() const = 0;
};

// ---- vision_blocks ----
class VisionBlocks : public Component, public nn::Module {
 public:
  // hidden [B, T, d]; image_mask [B, T] (u8, 1 at image-token positions): only those positions
  // change.
  virtual Tensor forward(const Tensor& hidden, const Tensor& image_mask,
                         const BackboneInputs& inputs) const = 0;
};

// ---- adapter ----
class Adapter : public Component, public nn::Module {
 public:
  // [B, N, d_in] -> [B, N, d_out]
  virtual Tensor forward(const Tensor& x) const = 0;
};

// ---- diffusion_decoder ----
class DiffusionDecoder : public Component, public nn::Module {
 public:
  // code embeddings [B, N, code_dim] on an h x w grid -> images [B, 3, H, W] in [0, 1].
  virtual Tensor decode(const Tensor& codes, int64_t grid_h, int64_t grid_w,
                        uint64_t seed) const = 0;
};

}  // namespace xomni::plugins
