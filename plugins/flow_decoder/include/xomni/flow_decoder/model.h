#pragma once
// The flow_decoder diffusion decoder: a small convolutional UNet (NCHW, f32) trained by rectified
// flow (flow_matching.h) to turn image-token code embeddings into pixels.
//
// Network, for images H x W from an h x w token grid (H = h * p, W = w * p, p =
// pixels_per_token, L = log2(p) resolution levels below full resolution, C_i = channels *
// channel_mult[i] the width at level i, resolution H / 2^i):
//   time:  t -> sinusoidal features of 1000 t (time_embed_dim) -> time_mlp (Linear, SiLU, Linear)
//   conv_in: 3x3, 3 -> C_0
//   down.i (i = 0..L): res_blocks ResBlocks to C_i; the result is level i's skip; for i < L a
//          3x3 stride-2 conv (down.i.downsample) halves the resolution.
//   at the token grid (level L):  h += cond_proj(codes) reshaped to [B, C_L, h, w];  mid ResBlock
//   up.i (i = L..0): for i < L, nearest 2x upsampling and a 3x3 conv C_{i+1} -> C_i
//          (up.i.upsample), then h += up.i.cond_proj(codes) at the token grid upsampled
//          (nearest) by 2^(L-i); then concatenate the skip of level i and res_blocks ResBlocks
//          (2 C_i -> C_i, then C_i -> C_i).
//   out: GroupNorm, SiLU, conv_out 3x3 C_0 -> 3 (initialised small, std 1e-2 of the default,
//        so the untrained model predicts ~0 but every layer gets a gradient from the first step).
//   ResBlock: GroupNorm-SiLU-conv3x3, + time_proj(SiLU(temb)) as a per-channel bias [B, C, 1, 1],
//             GroupNorm-SiLU-conv3x3, + the input (through a 1x1 conv when the width changes).
//
// Conditioning, as X-Omni's decoder takes its tokens: the codes [B, h*w, code_dim] (raster
// order) are mapped by a linear layer to the decoder's width and ADDED to the features at the
// token-grid resolution (cond_proj, the bottleneck). So that edges at finer resolutions can follow
// the tokens, every finer level of the up path adds its own linear projection of the codes
// (up.i.cond_proj, i < L), computed on the token grid and upsampled by nearest neighbour (the same
// as a 1x1 conv after upsampling, at 4^(L-i) times less cost).
//
// Initialisation (from the context seed, same seed same weights): conv and linear weights
// N(0, 1/fan_in), biases 0, GroupNorm weights 1 and biases 0; conv_out small (above).
//
// Parameter names: time_mlp.{fc1,fc2}, conv_in, down.<i>.blocks.<j>.{norm1,conv1,time_proj,norm2,
// conv2,skip}, down.<i>.downsample, cond_proj, mid.*, up.<i>.{upsample,cond_proj,blocks.<j>.*},
// norm_out, conv_out; each with .weight and .bias.
#include <cstdint>
#include <memory>
#include <vector>

#include "xomni/core/nn/nn.h"
#include "xomni/flow_decoder/config.h"
#include "xomni/plugins/components.h"

namespace xomni::flow_decoder {

// A 2-D convolution: weight [out, in, k, k], bias [out].
class Conv2d : public nn::Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, Generator& gen,
         double init_scale = 1.0);
  Tensor operator()(const Tensor& x) const;

 private:
  Tensor* weight_;
  Tensor* bias_;
  int64_t stride_, padding_;
};

// GroupNorm over NCHW with a per-channel affine.
class GroupNorm : public nn::Module {
 public:
  GroupNorm(int64_t groups, int64_t channels);
  Tensor operator()(const Tensor& x) const;

 private:
  Tensor* weight_;
  Tensor* bias_;
  int64_t groups_;
};

class ResBlock : public nn::Module {
 public:
  ResBlock(int64_t in, int64_t out, int64_t time_dim, int64_t groups, Generator& gen);
  // x [B, in, H, W], temb [B, time_dim] (already through SiLU) -> [B, out, H, W].
  Tensor operator()(const Tensor& x, const Tensor& temb) const;

 private:
  GroupNorm* norm1_;
  Conv2d* conv1_;
  nn::Linear* time_proj_;
  GroupNorm* norm2_;
  Conv2d* conv2_;
  Conv2d* skip_ = nullptr;  // 1x1, when in != out
};

class FlowDecoder : public plugins::DiffusionDecoder {
 public:
  FlowDecoder(const Config& config, uint64_t seed);

  Tensor decode(const Tensor& codes, int64_t grid_h, int64_t grid_w, uint64_t seed,
                int64_t steps = 0) const override;
  plugins::LossTerms training_loss(const Tensor& images, const Tensor& codes, int64_t grid_h,
                                   int64_t grid_w, Generator& gen) const override;
  int64_t pixels_per_token() const override { return config_.pixels_per_token; }
  int64_t code_dim() const override { return config_.code_dim; }

  const Config& config() const { return config_; }
  int64_t parameter_count() const;

  // The conditioning features per level (index i: [B, C_i, H / 2^i, W / 2^i] for i < L, and the
  // bottleneck's [B, C_L, h, w] at index L), from codes checked against the grid.
  std::vector<Tensor> condition(const Tensor& codes, int64_t grid_h, int64_t grid_w) const;
  // The predicted velocity for x_t [B, 3, H, W] (in [-1, 1] units) at times t [B].
  Tensor velocity(const Tensor& x_t, const Tensor& t, const std::vector<Tensor>& cond) const;
  // Throws unless codes are [B, grid_h * grid_w, code_dim] (naming the expected sizes).
  void check_codes(const Tensor& codes, int64_t grid_h, int64_t grid_w) const;

 private:
  Tensor time_embedding(const Tensor& t) const;  // [B] -> [B, time_embed_dim], through the MLP

  struct Level {
    std::vector<ResBlock*> down_blocks, up_blocks;
    Conv2d* downsample = nullptr;     // i < L
    Conv2d* upsample = nullptr;       // i < L
    nn::Linear* cond_proj = nullptr;  // i < L (the bottleneck's is cond_proj_)
  };

  Config config_;
  nn::Linear* time_fc1_;
  nn::Linear* time_fc2_;
  Conv2d* conv_in_;
  nn::Linear* cond_proj_;
  ResBlock* mid_;
  GroupNorm* norm_out_;
  Conv2d* conv_out_;
  std::vector<Level> levels_;
};

}  // namespace xomni::flow_decoder
