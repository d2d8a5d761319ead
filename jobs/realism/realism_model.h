#pragma once
// The realism scorer: a small CNN that gives one logit per RGB image, high for a coherent image
// and low for one decoded from a corrupted token sequence. The `realism` stage trains it
// (realism_stage.h) and the `realism` reward plugin (rewards/realism/) scores with it; both take
// their images through realism_batch, so the plugin sees inputs exactly as training did.
//
//   input   [B, 3, S, S] in [0, 1] (S = model.image_size), mapped to [-1, 1]
//   level i (i = 0 .. L-1): conv 3x3 (C_{i-1} -> C_i, C_{-1} = 3, C_i = channels * 2^i),
//           GroupNorm(groups), SiLU, 2x2 average pooling
//   head    mean over the remaining S/2^L x S/2^L positions, linear C_{L-1} -> 1
//
// Parameter names: levels.<i>.conv.{weight,bias}, levels.<i>.norm.{weight,bias},
// head.{weight,bias}. Initialisation from the seed: conv weights N(0, 1/fan_in), the head
// N(0, 1/C_{L-1}), biases 0, GroupNorm weights 1.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xomni/core/config/config.h"
#include "xomni/core/io/image.h"
#include "xomni/core/nn/nn.h"

namespace xomni::realism {

struct RealismModelOptions {
  int64_t image_size = 32;  // S: images are resized to S x S
  int64_t channels = 16;    // C_0; level i has channels * 2^i
  int64_t levels = 3;       // L: S must be divisible by 2^L
  int64_t groups = 4;       // GroupNorm groups; must divide channels
};

// The [model] fields of a realism job file.
std::vector<FieldSpec> realism_model_fields();
// Reads and checks them (errors name `config.source()` and the keys).
RealismModelOptions parse_realism_model(const Config& config);
// The same from a checkpoint's saved job text, without the whole job schema (the reward plugin
// reads checkpoints with core alone); `source` names the checkpoint in errors.
RealismModelOptions realism_model_from_saved(const std::string& config_text,
                                             const std::string& source);
// Throws naming `where` when the sizes do not fit together.
void check_realism_model(const RealismModelOptions& o, const std::string& where);

class RealismModel : public nn::Module {
 public:
  RealismModel(const RealismModelOptions& options, Generator& gen);
  // images [B, 3, S, S] in [0, 1] -> logits [B].
  Tensor operator()(const Tensor& images) const;
  const RealismModelOptions& options() const { return options_; }

 private:
  struct Level {
    Tensor *conv_w, *conv_b, *norm_w, *norm_b;
  };
  RealismModelOptions options_;
  std::vector<Level> levels_;
  nn::Linear* head_;
};

// Images as the scorer takes them: each resized to S x S (resize_image: box filter when
// shrinking, bilinear when growing; aspect not kept), stacked as [B, 3, S, S] f32 in [0, 1].
Tensor realism_batch(const std::vector<Image>& images, int64_t image_size);

// Mean binary cross-entropy of logits [B] against labels [B] in [0, 1] (1 = real):
// -(y log sigmoid(z) + (1 - y) log sigmoid(-z)), computed as a two-class log-softmax over
// [0, z] so it stays finite and exact for logits of any size.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& labels);

// A trained scorer from a realism-stage checkpoint: the sizes from its saved job, the weights
// from model/scorer.<name>. Errors name the checkpoint and what is missing.
std::unique_ptr<RealismModel> load_realism_model(const std::string& checkpoint);

// The checkpoint prefix of the scorer's parameters (model/<prefix><name>).
inline constexpr const char* kScorerPrefix = "scorer.";

}  // namespace xomni::realism
