#include "xomni/flow_decoder/model.h"

#include <cmath>
#include <string>

#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/shape.h"
#include "xomni/flow_decoder/flow_matching.h"

namespace xomni::flow_decoder {

namespace {

Tensor zeros_leaf(int64_t n) {
  Tensor t = Tensor::zeros({n});
  t.set_requires_grad();
  return t;
}

std::unique_ptr<nn::Linear> linear(int64_t in, int64_t out, Generator& gen) {
  return std::make_unique<nn::Linear>(in, out, true, gen, 1.0 / std::sqrt(double(in)));
}

// Floating tensors to f32 (the model's dtype); others refused naming `what`.
Tensor as_f32(const Tensor& t, const char* what) {
  XOMNI_CHECK(is_floating(t.dtype()), "flow decoder: ", what, " must be floating point, got ",
              dtype_name(t.dtype()));
  return t.dtype() == DType::f32 ? t : t.to(DType::f32);
}

}  // namespace

// ---- building blocks ----

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
               Generator& gen, double init_scale)
    : stride_(stride), padding_(padding) {
  const double std = init_scale / std::sqrt(double(in * kernel * kernel));
  weight_ =
      &register_parameter("weight", nn::normal_parameter({out, in, kernel, kernel}, std, gen));
  bias_ = &register_parameter("bias", zeros_leaf(out));
}

Tensor Conv2d::operator()(const Tensor& x) const {
  return conv2d(x, *weight_, *bias_, stride_, padding_);
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels) : groups_(groups) {
  Tensor w = Tensor::ones({channels});
  w.set_requires_grad();
  weight_ = &register_parameter("weight", w);
  bias_ = &register_parameter("bias", zeros_leaf(channels));
}

Tensor GroupNorm::operator()(const Tensor& x) const {
  return group_norm(x, groups_, *weight_, *bias_);
}

ResBlock::ResBlock(int64_t in, int64_t out, int64_t time_dim, int64_t groups, Generator& gen)
    : norm1_(&register_module("norm1", std::make_unique<GroupNorm>(groups, in))),
      conv1_(&register_module("conv1", std::make_unique<Conv2d>(in, out, 3, 1, 1, gen))),
      time_proj_(&register_module("time_proj", linear(time_dim, out, gen))),
      norm2_(&register_module("norm2", std::make_unique<GroupNorm>(groups, out))),
      conv2_(&register_module("conv2", std::make_unique<Conv2d>(out, out, 3, 1, 1, gen))) {
  if (in != out) skip_ = &register_module("skip", std::make_unique<Conv2d>(in, out, 1, 1, 0, gen));
}

Tensor ResBlock::operator()(const Tensor& x, const Tensor& temb) const {
  Tensor h = (*conv1_)(silu((*norm1_)(x)));
  const Tensor bias = (*time_proj_)(temb);  // [B, out]
  h = h + reshape(bias, {bias.size(0), bias.size(1), 1, 1});
  h = (*conv2_)(silu((*norm2_)(h)));
  return (skip_ != nullptr ? (*skip_)(x) : x) + h;
}

// ---- the decoder ----

FlowDecoder::FlowDecoder(const Config& config, uint64_t seed) : config_(config) {
  config_.validate("flow decoder");
  Generator gen(seed);
  const int64_t L = config_.levels(), temb = config_.time_embed_dim, groups = config_.groups;
  const int64_t cd = config_.code_dim;

  auto& time_mlp = register_module("time_mlp", std::make_unique<nn::Container>());
  time_fc1_ = &time_mlp.add("fc1", linear(temb, temb, gen));
  time_fc2_ = &time_mlp.add("fc2", linear(temb, temb, gen));
  conv_in_ =
      &register_module("conv_in", std::make_unique<Conv2d>(3, config_.width(0), 3, 1, 1, gen));

  levels_.resize(size_t(L + 1));
  auto& down = register_module("down", std::make_unique<nn::Container>());
  int64_t ch = config_.width(0);
  for (int64_t i = 0; i <= L; ++i) {
    auto& level = down.add(std::to_string(i), std::make_unique<nn::Container>());
    auto& blocks = level.add("blocks", std::make_unique<nn::Container>());
    const int64_t w = config_.width(i);
    for (int64_t j = 0; j < config_.res_blocks; ++j) {
      levels_[i].down_blocks.push_back(
          &blocks.add(std::to_string(j), std::make_unique<ResBlock>(ch, w, temb, groups, gen)));
      ch = w;
    }
    if (i < L)
      levels_[i].downsample =
          &level.add("downsample", std::make_unique<Conv2d>(w, w, 3, 2, 1, gen));
  }

  cond_proj_ = &register_module("cond_proj", linear(cd, config_.width(L), gen));
  mid_ = &register_module(
      "mid", std::make_unique<ResBlock>(config_.width(L), config_.width(L), temb, groups, gen));

  auto& up = register_module("up", std::make_unique<nn::Container>());
  for (int64_t i = L; i >= 0; --i) {
    auto& level = up.add(std::to_string(i), std::make_unique<nn::Container>());
    const int64_t w = config_.width(i);
    if (i < L) {
      levels_[i].upsample =
          &level.add("upsample", std::make_unique<Conv2d>(config_.width(i + 1), w, 3, 1, 1, gen));
      levels_[i].cond_proj = &level.add("cond_proj", linear(cd, w, gen));
    }
    auto& blocks = level.add("blocks", std::make_unique<nn::Container>());
    for (int64_t j = 0; j < config_.res_blocks; ++j)
      levels_[i].up_blocks.push_back(&blocks.add(
          std::to_string(j), std::make_unique<ResBlock>(j == 0 ? 2 * w : w, w, temb, groups, gen)));
  }

  norm_out_ = &register_module("norm_out", std::make_unique<GroupNorm>(groups, config_.width(0)));
  conv_out_ = &register_module("conv_out",
                               std::make_unique<Conv2d>(config_.width(0), 3, 3, 1, 1, gen, 1e-2));
}

int64_t FlowDecoder::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void FlowDecoder::check_codes(const Tensor& codes, int64_t grid_h, int64_t grid_w) const {
  XOMNI_CHECK(grid_h > 0 && grid_w > 0, "flow decoder: the token grid must be positive, got ",
              grid_h, " x ", grid_w);
  const int64_t n = checked_mul(grid_h, grid_w, "flow decoder: grid_h x grid_w");
  checked_mul(checked_mul(n, config_.pixels_per_token * config_.pixels_per_token,
                          "flow decoder: image pixels"),
              3, "flow decoder: image values");
  XOMNI_CHECK(codes.defined() && codes.dim() == 3 && codes.size(0) > 0 && codes.size(1) == n &&
                  codes.size(2) == config_.code_dim,
              "flow decoder: codes must be [B, grid_h * grid_w = ", grid_h, " * ", grid_w, " = ", n,
              ", code_dim = ", config_.code_dim, "] with B > 0, got ",
              codes.defined() ? shape_str(codes.shape()) : std::string("an undefined tensor"));
}

std::vector<Tensor> FlowDecoder::condition(const Tensor& codes_in, int64_t grid_h,
                                           int64_t grid_w) const {
  check_codes(codes_in, grid_h, grid_w);
  const Tensor codes = as_f32(codes_in, "codes");
  const int64_t L = config_.levels(), B = codes.size(0);
  // [B, N, C] (raster order over the grid) -> [B, C, h, w].
  auto to_grid = [&](const Tensor& f) {
    return permute(reshape(f, {B, grid_h, grid_w, f.size(2)}), {0, 3, 1, 2});
  };
  std::vector<Tensor> cond(size_t(L + 1));
  cond[L] = to_grid((*cond_proj_)(codes));
  for (int64_t i = 0; i < L; ++i)
    cond[i] = upsample_nearest2d(to_grid((*levels_[i].cond_proj)(codes)), int64_t(1) << (L - i));
  return cond;
}

Tensor FlowDecoder::time_embedding(const Tensor& t) const {
  const int64_t B = t.size(0), half = config_.time_embed_dim / 2;
  const std::vector<double> ts = t.to_vector<double>();
  std::vector<float> feats(size_t(B * 2 * half));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < half; ++k) {
      const double freq = std::exp(-std::log(10000.0) * double(k) / double(half));
      const double arg = 1000.0 * ts[size_t(b)] * freq;
      feats[size_t(b * 2 * half + k)] = float(std::cos(arg));
      feats[size_t(b * 2 * half + half + k)] = float(std::sin(arg));
    }
  const Tensor sinusoid = Tensor::from_vector(feats, {B, 2 * half});
  return (*time_fc2_)(silu((*time_fc1_)(sinusoid)));
}

Tensor FlowDecoder::velocity(const Tensor& x_t, const Tensor& t,
                             const std::vector<Tensor>& cond) const {
  const int64_t L = config_.levels();
  XOMNI_CHECK(x_t.dim() == 4 && x_t.size(1) == 3 && t.dim() == 1 && t.size(0) == x_t.size(0) &&
                  int64_t(cond.size()) == L + 1,
              "flow decoder: velocity needs x_t [B, 3, H, W], t [B] and ", L + 1,
              " conditioning levels, got x_t ", shape_str(x_t.shape()), ", t ",
              shape_str(t.shape()), " and ", cond.size(), " levels");
  const Tensor temb = silu(time_embedding(t));
  Tensor h = (*conv_in_)(as_f32(x_t, "x_t"));
  std::vector<Tensor> skips;
  for (int64_t i = 0; i <= L; ++i) {
    for (const ResBlock* b : levels_[i].down_blocks) h = (*b)(h, temb);
    skips.push_back(h);
    if (i < L) h = (*levels_[i].downsample)(h);
  }
  h = h + cond[L];
  h = (*mid_)(h, temb);
  for (int64_t i = L; i >= 0; --i) {
    if (i < L) h = (*levels_[i].upsample)(upsample_nearest2d(h, 2)) + cond[i];
    h = cat({h, skips[size_t(i)]}, 1);
    for (const ResBlock* b : levels_[i].up_blocks) h = (*b)(h, temb);
  }
  return (*conv_out_)(silu((*norm_out_)(h)));
}

Tensor FlowDecoder::decode(const Tensor& codes, int64_t grid_h, int64_t grid_w, uint64_t seed,
                           int64_t steps) const {
  XOMNI_CHECK(steps >= 0, "flow decoder: steps must be positive (or 0 for the configured ",
              config_.steps, "), got ", steps);
  if (steps == 0) steps = config_.steps;
  NoGradGuard no_grad;
  const std::vector<Tensor> cond = condition(codes, grid_h, grid_w);
  const int64_t B = codes.size(0), p = config_.pixels_per_token;
  Generator gen(seed);
  const Tensor x0 = randn({B, 3, grid_h * p, grid_w * p}, gen);
  const Tensor x1 = euler_integrate(x0, steps, [&](const Tensor& x, double t) {
    return velocity(x, Tensor::full({B}, t), cond);
  });
  return clamp(mul(add(x1, 1.0), 0.5), 0.0, 1.0);
}

plugins::LossTerms FlowDecoder::training_loss(const Tensor& images_in, const Tensor& codes,
                                              int64_t grid_h, int64_t grid_w,
                                              Generator& gen) const {
  const std::vector<Tensor> cond = condition(codes, grid_h, grid_w);
  const int64_t B = codes.size(0), p = config_.pixels_per_token;
  XOMNI_CHECK(images_in.defined() && images_in.dim() == 4 && images_in.size(0) == B &&
                  images_in.size(1) == 3 && images_in.size(2) == grid_h * p &&
                  images_in.size(3) == grid_w * p,
              "flow decoder: images must be [B = ", B, ", 3, grid_h * pixels_per_token = ", grid_h,
              " * ", p, ", grid_w * pixels_per_token = ", grid_w, " * ", p, "] = [", B, ", 3, ",
              grid_h * p, ", ", grid_w * p, "], got ",
              images_in.defined() ? shape_str(images_in.shape()) : std::string("undefined"));
  const Tensor x1 = add(mul(as_f32(images_in, "images"), 2.0), -1.0);  // [0, 1] -> [-1, 1]
  const Tensor noise = randn(x1.shape(), gen);
  const Tensor t = sample_timesteps(B, config_.timestep_sampling, gen);
  const Tensor v = velocity(interpolate(x1, noise, t), t, cond);
  plugins::LossTerms terms;
  terms.total = flow_matching_loss(v, x1, noise);
  terms.parts.emplace_back("flow_mse", terms.total.item());
  return terms;
}

}  // namespace xomni::flow_decoder
