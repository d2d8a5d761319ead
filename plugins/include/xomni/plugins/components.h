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
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xomni/core/io/safetensors.h"
#include "xomni/core/nn/nn.h"
#include "xomni/core/tensor/random.h"
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

// Which logits a backbone returns. A model with one vocabulary and one head gives the same logits
// in every mode.
enum class LogitMode {
  training,  // what token_nll() scores (X-Omni: both heads, this rank's pieces side by side)
  text,      // a text token's distribution (X-Omni: lm_head; the image columns at the minimum)
  image,     // an image token's distribution (X-Omni: mm_head over the image codes only)
};

struct BackboneInputs {
  // [B, P, hidden_size()]: embeddings placed before the embedded ids (on the first pipeline stage;
  // e.g. adapted image-code embeddings as a prefix). The logits then cover P + T positions.
  Tensor prefix_embeddings;
  Tensor positions;    // [T] or [B, T]; default 0..T-1 (after what the cache holds)
  Tensor segment_ids;  // [B, T] packed documents; attention stays inside a document
  DecodeCache* cache = nullptr;
  bool checkpoint_layers = false;  // recompute each block's activations in backward
  // [B, T] the token ids of this call, for pipeline stages after the first (their input is hidden
  // states) when the model needs per-token facts there (X-Omni: which positions are image
  // tokens). The first stage reads its input ids; a model that needs nothing more ignores this.
  Tensor token_ids;
  LogitMode mode = LogitMode::training;
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
  // Per-token negative log-likelihood [B, T] of `targets` [B, T] (global ids; -100 gives 0) under
  // the last stage's logits in LogitMode::training. Under tensor parallelism every rank of the
  // group gets the same values. Differentiable.
  virtual Tensor token_nll(const Tensor& logits, const Tensor& targets) const = 0;
  // Where parameter `name` takes its weights from when a stage starts from another stage's
  // checkpoint whose parameters are `source` (possibly another architecture, e.g. a text LM under
  // an X-Omni model): a name in `source`, or "" to keep this model's initialisation (a part the
  // source lacks). The default takes the same name when the source has it.
  virtual std::string init_source(const std::string& name,
                                  const std::set<std::string>& source) const {
    return source.count(name) ? name : std::string();
  }

  // Pipeline stages. stage_forward runs this stage's part of logits(): token ids [B, T] on the
  // first stage, otherwise the previous stage's hidden states; returns hidden states [B, T, d]
  // (T the local length under sequence parallelism), or the logits on the last stage.
  virtual Tensor stage_forward(const Tensor& input, const BackboneInputs& inputs) const = 0;
  // The last stage's per-token nll [B, T] of `targets` straight from its input (what
  // stage_forward takes; a single stage takes the ids): token_nll(stage_forward(input, inputs),
  // targets), which a model may compute without holding the logits (qwen2: the head fused with
  // the loss over vocabulary chunks). Differentiable; the same on every rank of the tp group.
  virtual Tensor stage_token_nll(const Tensor& input, const Tensor& targets,
                                 const BackboneInputs& inputs) const {
    return token_nll(stage_forward(input, inputs), targets);
  }
  virtual bool is_first_stage() const = 0;
  virtual bool is_last_stage() const = 0;
  virtual int64_t hidden_size() const = 0;
};

// ---- image_tokenizer ----
// A training objective's value and its parts (for metrics.jsonl).
struct LossTerms {
  Tensor total;                                       // scalar, differentiable
  std::vector<std::pair<std::string, double>> parts;  // named values (weighted as in total)
};

// One quantisation pass for training.
struct QuantizedImages {
  Tensor ids;    // [B, N] i64 code ids, N = grid_h * grid_w in raster order
  Tensor codes;  // [B, N, code_dim]: the chosen codes' embeddings in the forward pass; gradients
                 // pass straight through to the encoder's continuous output
  // The encoder's continuous (pre-quantisation, normalised) vectors [B, N, code_dim], detached:
  // candidates for restarting dead codes.
  Tensor continuous;
  int64_t grid_h = 0, grid_w = 0;
  LossTerms losses;  // the quantiser's own terms (e.g. codebook + commitment)
};

// Images to discrete semantic tokens: an encoder (a ViT) over patches, a projection and a vector
// quantiser. Images are [B, 3, H, W] f32 in [0, 1] with H and W multiples of patch_size(); the
// token grid is (H / patch_size(), W / patch_size()). Parameter names start with the part they
// belong to ("vision.", "text.", "quantizer.", ...), so jobs freeze parts by glob.
class ImageTokenizer : public Component, public nn::Module {
 public:
  // images -> token ids [B, h*w] i64 (raster order of the h x w grid); no autograd, deterministic.
  virtual Tensor encode(const Tensor& images) const = 0;
  // ids [B, N] -> code embeddings [B, N, code_dim()] (what adapters and decoders consume). Throws
  // naming the id when one is outside [0, codebook_size()).
  virtual Tensor code_embeddings(const Tensor& ids) const = 0;
  virtual int64_t codebook_size() const = 0;
  virtual int64_t code_dim() const = 0;
  virtual int64_t patch_size() const = 0;

  // Training. quantize() is encode() with gradients: straight-through codes and the quantiser's
  // losses.
  virtual QuantizedImages quantize(const Tensor& images) const = 0;
  // Image-text contrastive pretraining of the encoder (e.g. SigLIP's sigmoid loss) over a batch of
  // matching (image, caption) pairs; throws when the tokenizer has no text tower.
  virtual LossTerms contrastive_loss(const Tensor& images,
                                     const std::vector<std::string>& texts) const = 0;
  // The contrastive embeddings, L2-normalised: images -> [B, E], texts -> [B, E] (retrieval).
  virtual Tensor image_embeddings(const Tensor& images) const = 0;
  virtual Tensor text_embeddings(const std::vector<std::string>& texts) const = 0;
  // Replaces every code whose usage[k] is 0 (usage [codebook_size()] counts, any numeric dtype)
  // by a row of candidates [M, code_dim] chosen with `gen`; returns how many were replaced. The
  // same arguments give the same codebook on every rank.
  virtual int64_t restart_dead_codes(const Tensor& usage, const Tensor& candidates,
                                     Generator& gen) = 0;
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
// Code embeddings to pixels: a generative decoder trained offline on (image, code) pairs and a
// fixed render engine afterwards. An h x w grid decodes to an image of
// (h * pixels_per_token()) x (w * pixels_per_token()).
class DiffusionDecoder : public Component, public nn::Module {
 public:
  // codes [B, N, code_dim] on an h x w grid -> images [B, 3, H, W] in [0, 1]. `steps` sampler
  // steps (0: the decoder's configured default); the same seed gives the same images.
  virtual Tensor decode(const Tensor& codes, int64_t grid_h, int64_t grid_w, uint64_t seed,
                        int64_t steps = 0) const = 0;
  // The decoder's training objective on images [B, 3, H, W] in [0, 1] and their codes; the noise
  // and timesteps come from `gen`.
  virtual LossTerms training_loss(const Tensor& images, const Tensor& codes, int64_t grid_h,
                                  int64_t grid_w, Generator& gen) const = 0;
  virtual int64_t pixels_per_token() const = 0;
  virtual int64_t code_dim() const = 0;
};

}  // namespace xomni::plugins
