#pragma once
// The siglip_vq image tokenizer: a SigLIP-style vision transformer over image patches, a byte-level
// text tower for sigmoid contrastive pretraining, and a vector quantiser on the unit sphere that
// turns the vision features into discrete semantic tokens (X-Omni's SigLIP-VQ). Also the
// `residual` adapter that maps code embeddings into a backbone's width.
//
// Parameter names (prefixes, so jobs freeze parts by glob):
//   vision.patch_embed.{weight,bias}                         patches [3*p*p] -> vision_width
//   vision.blocks.<i>.{norm1,norm2}.{weight,bias}            pre-LN LayerNorms
//   vision.blocks.<i>.attn.{q,k,v}.{weight,bias}             column-parallel (heads split by tp)
//   vision.blocks.<i>.attn.out.{weight,bias}                 row-parallel
//   vision.blocks.<i>.mlp.fc1.{weight,bias}                  column-parallel, GELU
//   vision.blocks.<i>.mlp.fc2.{weight,bias}                  row-parallel
//   vision.norm.{weight,bias}, vision.head.{weight,bias}     final LN; pooled -> embed_dim
//   text.token_embed.weight [257, text_width], text.pos_embed [text_max_len, text_width],
//   text.blocks.<i>.*, text.norm.*, text.head.*              (when text_tower is on)
//   contrastive.logit_scale, contrastive.logit_bias          scalars (init log 10 and -10)
//   quantizer.proj.{weight,bias}                             vision_width -> code_dim
//   quantizer.codebook [codebook_size, code_dim]             N(0, 1) rows, used L2-normalised
// The position embedding of the vision tower is a fixed 2-D sine-cosine table computed for each
// grid, so any image whose sides are multiples of patch_size is accepted.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xomni/core/nn/nn.h"
#include "xomni/parallel/tp_layers.h"
#include "xomni/plugins/components.h"
#include "xomni/siglip_vq/config.h"

namespace xomni::siglip_vq {

using parallel::TensorParallel;

// ---- the pieces as plain functions (tested against PyTorch) ----

// x / sqrt(sum(x^2) + eps) along the last dim.
Tensor l2_normalize(const Tensor& x, double eps = 1e-12);
// log(sigmoid(x)) computed stably as min(x, 0) - log(1 + exp(-|x|)).
Tensor log_sigmoid(const Tensor& x);
// SigLIP's logits z_ij = exp(logit_scale) * <x_i, y_j> + logit_bias for (normalised) image
// embeddings x [B, E] and text embeddings y [B, E]; logit_scale and logit_bias are scalars.
Tensor siglip_logits(const Tensor& image_emb, const Tensor& text_emb, const Tensor& logit_scale,
                     const Tensor& logit_bias);
// The sigmoid contrastive loss of a [B, B] logit matrix whose diagonal holds the matching pairs:
// -(1/B) * sum_ij log sigmoid(s_ij * z_ij), s_ij = +1 on the diagonal and -1 elsewhere.
Tensor sigmoid_contrastive_loss(const Tensor& logits);
// The fraction of rows whose largest logit is on the diagonal (image -> text top-1 accuracy).
double top1_accuracy(const Tensor& logits);

// One vector-quantisation step.
struct VectorQuantized {
  Tensor ids;              // z's leading dims, i64: argmax_k <z, e_k>
  Tensor quantized;        // q = e[ids] (gradient to the codebook)
  Tensor codes;            // z + (q - z).detach(): q's values, gradients straight through to z
  Tensor codebook_loss;    // codebook_weight * mean((q - z.detach())^2)
  Tensor commitment_loss;  // commitment_weight * mean((q.detach() - z)^2)
};
// z [..., D] (the normalised encoder outputs) and codebook [K, D] (normalised rows), used as given.
VectorQuantized vector_quantize(const Tensor& z, const Tensor& codebook, double codebook_weight,
                                double commitment_weight);

// How a batch of ids uses a codebook of `codebook_size` codes: exp of the entropy of the ids'
// histogram, and the number of distinct ids.
struct CodeUsage {
  double perplexity = 0;
  int64_t used = 0;
};
CodeUsage code_usage(const Tensor& ids, int64_t codebook_size);

// The fixed 2-D sine-cosine position table [grid_h * grid_w, dim] (dim a multiple of 4), raster
// order: the first dim/2 columns encode the row as [sin(r w_k), cos(r w_k)], the last dim/2 the
// column likewise, with w_k = 10000^(-k / (dim/4)), k = 0 .. dim/4 - 1.
Tensor sincos_position_embedding_2d(int64_t grid_h, int64_t grid_w, int64_t dim);

// Byte-level text tokens: each UTF-8 byte + 1 (0 is padding), at most max_len of them.
std::vector<int64_t> byte_tokens(std::string_view text, int64_t max_len);

// ---- modules ----

class LayerNorm : public nn::Module {
 public:
  LayerNorm(int64_t dim, double eps);
  Tensor operator()(const Tensor& x) const { return layer_norm(x, *weight_, *bias_, eps_); }

 private:
  Tensor *weight_, *bias_;
  double eps_;
};

// A pre-LN transformer block with non-causal multi-head attention and a GELU MLP; the heads and
// the MLP width are split over the tensor-parallel group (Megatron style).
class Block : public nn::Module {
 public:
  Block(int64_t width, int64_t heads, int64_t mlp_width, double eps, const TensorParallel& tp,
        Generator& gen);
  // x [B, T, width]; key_padding_mask [B, T] u8 (nonzero = padding) or undefined.
  Tensor operator()(const Tensor& x, const Tensor& key_padding_mask = Tensor()) const;

 private:
  TensorParallel tp_;
  int64_t local_heads_, head_dim_;
  LayerNorm* norm1_;
  parallel::ColumnParallelLinear *q_, *k_, *v_;
  parallel::RowParallelLinear* out_;
  LayerNorm* norm2_;
  parallel::ColumnParallelLinear* fc1_;
  parallel::RowParallelLinear* fc2_;
};

class VisionTower : public nn::Module {
 public:
  VisionTower(const Config& cfg, const TensorParallel& tp, Generator& gen);
  // Checked images [B, 3, H, W] f32 in [0, 1] -> features [B, (H/p) * (W/p), vision_width].
  // Pixels are mapped to [-1, 1] before the patch embedding.
  Tensor operator()(const Tensor& images) const;
  // [B, vision_width]: the mean over the patches of the features, then head -> [B, embed_dim].
  Tensor pooled_embedding(const Tensor& features) const;

 private:
  const Config& cfg_;
  nn::Linear& patch_embed_;
  std::vector<Block*> blocks_;
  LayerNorm& norm_;
  nn::Linear& head_;
};

class TextTower : public nn::Module {
 public:
  TextTower(const Config& cfg, const TensorParallel& tp, Generator& gen);
  // Texts -> [B, embed_dim] (not normalised): byte tokens, learned positions, the blocks with
  // padding masked, final LN, the mean over non-padding tokens, head. An empty caption reads as
  // one padding token.
  Tensor operator()(const std::vector<std::string>& texts) const;

 private:
  const Config& cfg_;
  nn::Embedding& token_embed_;
  Tensor* pos_embed_;
  std::vector<Block*> blocks_;
  LayerNorm& norm_;
  nn::Linear& head_;
};

// Throws an Error saying what is wrong unless `images` is [B >= 1, 3, H, W] f32 with H and W
// positive multiples of patch_size.
void check_images(const Tensor& images, int64_t patch_size, const char* who);

class SiglipVQ : public plugins::ImageTokenizer {
 public:
  // The same seed gives the same (global) weights under any tensor-parallel size; sequence
  // parallelism does not apply to the tokenizer (its blocks always see the whole sequence), nor
  // do context parallelism or pipeline stages (the plugin ignores ComponentContext's cp and layer
  // range).
  SiglipVQ(const Config& cfg, uint64_t seed, const TensorParallel& tp = {});
  const Config& config() const { return cfg_; }

  // Vision features [B, h*w, vision_width] (the input of the quantiser and of pooling).
  Tensor features(const Tensor& images) const;
  // The normalised codebook [codebook_size, code_dim].
  Tensor normalized_codebook() const;

  // plugins::ImageTokenizer
  Tensor encode(const Tensor& images) const override;
  Tensor code_embeddings(const Tensor& ids) const override;
  int64_t codebook_size() const override { return cfg_.codebook_size; }
  int64_t code_dim() const override { return cfg_.code_dim; }
  int64_t patch_size() const override { return cfg_.patch_size; }
  plugins::QuantizedImages quantize(const Tensor& images) const override;
  plugins::LossTerms contrastive_loss(const Tensor& images,
                                      const std::vector<std::string>& texts) const override;
  Tensor image_embeddings(const Tensor& images) const override;
  Tensor text_embeddings(const std::vector<std::string>& texts) const override;
  int64_t restart_dead_codes(const Tensor& usage, const Tensor& candidates,
                             Generator& gen) override;

 private:
  Tensor project(const Tensor& features) const;  // -> normalised z [B, N, code_dim]

  Config cfg_;
  TensorParallel tp_;
  VisionTower* vision_;
  TextTower* text_ = nullptr;
  Tensor *logit_scale_, *logit_bias_;
  nn::Linear* proj_;
  Tensor* codebook_;
};

// The residual adapter: h = proj(x); y = h + fc2(gelu(fc1(norm(h)))).
// Parameters: proj.{weight,bias} [out_dim, in_dim], norm.{weight,bias}, fc1.{weight,bias}
// [hidden, out_dim], fc2.{weight,bias} [out_dim, hidden].
class ResidualAdapter : public plugins::Adapter {
 public:
  ResidualAdapter(const AdapterConfig& cfg, uint64_t seed);
  const AdapterConfig& config() const { return cfg_; }
  // x [B, N, in_dim] f32 -> [B, N, out_dim]; throws naming the shape when it does not fit.
  Tensor forward(const Tensor& x) const override;

 private:
  AdapterConfig cfg_;
  nn::Linear* proj_;
  LayerNorm* norm_;
  nn::Linear *fc1_, *fc2_;
};

}  // namespace xomni::siglip_vq
