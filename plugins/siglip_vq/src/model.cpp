#include "xomni/siglip_vq/model.h"

#include <algorithm>
#include <cmath>

#include "xomni/core/tensor/autograd.h"

namespace xomni::siglip_vq {
namespace {

using parallel::ColumnParallelLinear;
using parallel::RowParallelLinear;

// The tokenizer's blocks always see whole sequences (images are not split along the tokens).
TensorParallel without_sequence_parallel(TensorParallel tp) {
  tp.sequence_parallel = false;
  return tp;
}

Tensor scalar_parameter(double value) {
  Tensor t = Tensor::scalar(value);
  t.set_requires_grad();
  return t;
}

// A module holding parameters and children by name ("contrastive", "quantizer").
class Group : public nn::Module {
 public:
  Tensor& param(const std::string& name, Tensor t) {
    return register_parameter(name, std::move(t));
  }
  template <typename M>
  M& child(const std::string& name, std::unique_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

std::vector<Block*> make_blocks(nn::Container& blocks, int64_t n, int64_t width, int64_t heads,
                                int64_t mlp_width, double eps, const TensorParallel& tp,
                                Generator& gen) {
  std::vector<Block*> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(&blocks.add(std::to_string(i),
                              std::make_unique<Block>(width, heads, mlp_width, eps, tp, gen)));
  return out;
}

}  // namespace

// ---- functions ----

Tensor l2_normalize(const Tensor& x, double eps) {
  return mul(x, rsqrt(add(sum(mul(x, x), {-1}, true), eps)));
}

Tensor log_sigmoid(const Tensor& x) {
  // min(x, 0) = -relu(-x); |x| = relu(x) + relu(-x).
  const Tensor neg_part = relu(neg(x));
  const Tensor abs_x = add(relu(x), neg_part);
  return sub(neg(neg_part), log(add(exp(neg(abs_x)), 1.0)));
}

Tensor siglip_logits(const Tensor& image_emb, const Tensor& text_emb, const Tensor& logit_scale,
                     const Tensor& logit_bias) {
  XOMNI_CHECK(image_emb.dim() == 2 && text_emb.dim() == 2 && image_emb.size(1) == text_emb.size(1),
              "siglip_logits: image embeddings ", shape_str(image_emb.shape()),
              " and text embeddings ", shape_str(text_emb.shape()), " must be [B, E] and [B', E]");
  XOMNI_CHECK(logit_scale.numel() == 1 && logit_bias.numel() == 1,
              "siglip_logits: logit_scale and logit_bias must be scalars, got ",
              shape_str(logit_scale.shape()), " and ", shape_str(logit_bias.shape()));
  return add(mul(matmul(image_emb, transpose(text_emb, 0, 1)), exp(logit_scale)), logit_bias);
}

Tensor sigmoid_contrastive_loss(const Tensor& logits) {
  XOMNI_CHECK(logits.dim() == 2 && logits.size(0) == logits.size(1) && logits.size(0) >= 1,
              "sigmoid_contrastive_loss: logits must be a square [B, B] matrix with B >= 1, got ",
              shape_str(logits.shape()));
  const int64_t B = logits.size(0);
  std::vector<double> sign(size_t(B * B), -1.0);
  for (int64_t i = 0; i < B; ++i) sign[size_t(i * B + i)] = 1.0;
  const Tensor s = Tensor::from_vector(sign, {B, B}).to(logits.dtype());
  return mul(sum(log_sigmoid(mul(logits, s))), -1.0 / double(B));
}

double top1_accuracy(const Tensor& logits) {
  XOMNI_CHECK(logits.dim() == 2 && logits.size(0) >= 1, "top1_accuracy: logits must be [B, C]");
  const std::vector<int64_t> best = argmax(logits.detach(), 1).to_vector<int64_t>();
  int64_t hits = 0;
  for (size_t i = 0; i < best.size(); ++i) hits += best[i] == int64_t(i);
  return double(hits) / double(best.size());
}

VectorQuantized vector_quantize(const Tensor& z, const Tensor& codebook, double codebook_weight,
                                double commitment_weight) {
  XOMNI_CHECK(z.dim() >= 1 && codebook.dim() == 2 && codebook.size(0) >= 1 &&
                  z.size(-1) == codebook.size(1),
              "vector_quantize: z ", shape_str(z.shape()),
              " must end in the code size of the [K, D] "
              "codebook ",
              shape_str(codebook.shape()));
  const int64_t D = codebook.size(1);
  Shape lead(z.shape().begin(), z.shape().end() - 1);
  const Tensor flat = reshape(z, {-1, D});
  VectorQuantized r;
  {
    NoGradGuard no_grad;  // the choice is not differentiable
    r.ids = reshape(argmax(matmul(flat.detach(), transpose(codebook.detach(), 0, 1)), 1), lead);
  }
  r.quantized = embedding(codebook, r.ids);
  r.codes = add(z, sub(r.quantized, z).detach());
  const Tensor dq = sub(r.quantized, z.detach());
  const Tensor dz = sub(r.quantized.detach(), z);
  r.codebook_loss = mul(mean(mul(dq, dq)), codebook_weight);
  r.commitment_loss = mul(mean(mul(dz, dz)), commitment_weight);
  return r;
}

CodeUsage code_usage(const Tensor& ids, int64_t codebook_size) {
  std::vector<int64_t> count(size_t(codebook_size), 0);
  const std::vector<int64_t> v = ids.to_vector<int64_t>();
  for (int64_t id : v) {
    XOMNI_CHECK(id >= 0 && id < codebook_size, "code_usage: id ", id,
                " is outside the codebook [0, ", codebook_size, ")");
    ++count[size_t(id)];
  }
  CodeUsage u;
  double entropy = 0;
  for (int64_t c : count) {
    if (c == 0) continue;
    ++u.used;
    const double p = double(c) / double(v.size());
    entropy -= p * std::log(p);
  }
  u.perplexity = v.empty() ? 0.0 : std::exp(entropy);
  return u;
}

Tensor sincos_position_embedding_2d(int64_t grid_h, int64_t grid_w, int64_t dim) {
  XOMNI_CHECK(grid_h >= 1 && grid_w >= 1 && dim >= 4 && dim % 4 == 0,
              "sincos_position_embedding_2d: needs a grid of at least 1 x 1 and a width that is a "
              "positive multiple of 4, got ",
              grid_h, " x ", grid_w, " and ", dim);
  const int64_t quarter = dim / 4;
  std::vector<float> table(size_t(grid_h * grid_w * dim));
  for (int64_t r = 0; r < grid_h; ++r)
    for (int64_t c = 0; c < grid_w; ++c) {
      float* row = table.data() + (r * grid_w + c) * dim;
      for (int64_t k = 0; k < quarter; ++k) {
        const double w = std::pow(10000.0, -double(k) / double(quarter));
        row[k] = float(std::sin(double(r) * w));
        row[quarter + k] = float(std::cos(double(r) * w));
        row[2 * quarter + k] = float(std::sin(double(c) * w));
        row[3 * quarter + k] = float(std::cos(double(c) * w));
      }
    }
  return Tensor::from_vector(table, {grid_h * grid_w, dim});
}

std::vector<int64_t> byte_tokens(std::string_view text, int64_t max_len) {
  std::vector<int64_t> ids;
  for (char ch : text) {
    if (int64_t(ids.size()) >= max_len) break;
    ids.push_back(int64_t(static_cast<unsigned char>(ch)) + 1);
  }
  return ids;
}

void check_images(const Tensor& images, int64_t p, const char* who) {
  XOMNI_CHECK(images.defined(), who, ": images are undefined");
  XOMNI_CHECK(images.dim() == 4, who, ": images must be [B, 3, H, W], got ",
              shape_str(images.shape()));
  XOMNI_CHECK(images.size(1) == 3, who, ": expects 3 channels (RGB), got ", images.size(1),
              " (images ", shape_str(images.shape()), ")");
  XOMNI_CHECK(images.dtype() == DType::f32, who, ": images must be f32, got ",
              dtype_name(images.dtype()));
  XOMNI_CHECK(images.size(0) >= 1, who, ": an empty batch of images ", shape_str(images.shape()));
  const int64_t H = images.size(2), W = images.size(3);
  XOMNI_CHECK(H >= p && W >= p, who, ": images ", shape_str(images.shape()),
              " are smaller than one patch (patch_size ", p, ")");
  XOMNI_CHECK(H % p == 0 && W % p == 0, who, ": image height ", H, " and width ", W,
              " must be multiples of patch_size ", p);
}

// ---- modules ----

LayerNorm::LayerNorm(int64_t dim, double eps) : eps_(eps) {
  Tensor w = Tensor::ones({dim}), b = Tensor::zeros({dim});
  w.set_requires_grad();
  b.set_requires_grad();
  weight_ = &register_parameter("weight", w);
  bias_ = &register_parameter("bias", b);
}

Block::Block(int64_t width, int64_t heads, int64_t mlp_width, double eps, const TensorParallel& tp,
             Generator& gen)
    : tp_(tp) {
  XOMNI_CHECK(
      heads >= 1 && width % heads == 0 && heads % tp.size() == 0 && mlp_width % tp.size() == 0,
      "siglip_vq block: width ", width, ", heads ", heads, " and MLP width ", mlp_width,
      " do not split over tensor-parallel size ", tp.size());
  local_heads_ = heads / tp.size();
  head_dim_ = width / heads;
  norm1_ = &register_module("norm1", std::make_unique<LayerNorm>(width, eps));
  auto& attn = register_module("attn", std::make_unique<nn::Container>());
  q_ = &attn.add("q", std::make_unique<ColumnParallelLinear>(width, width, true, tp, gen));
  k_ = &attn.add("k", std::make_unique<ColumnParallelLinear>(width, width, true, tp, gen));
  v_ = &attn.add("v", std::make_unique<ColumnParallelLinear>(width, width, true, tp, gen));
  out_ = &attn.add("out", std::make_unique<RowParallelLinear>(width, width, true, tp, gen));
  norm2_ = &register_module("norm2", std::make_unique<LayerNorm>(width, eps));
  auto& mlp = register_module("mlp", std::make_unique<nn::Container>());
  fc1_ = &mlp.add("fc1", std::make_unique<ColumnParallelLinear>(width, mlp_width, true, tp, gen));
  fc2_ = &mlp.add("fc2", std::make_unique<RowParallelLinear>(mlp_width, width, true, tp, gen));
}

Tensor Block::operator()(const Tensor& x, const Tensor& key_padding_mask) const {
  const int64_t B = x.size(0), T = x.size(1), H = local_heads_, hd = head_dim_;
  // q, k and v read one input: one tensor-parallel entry for the three.
  const Tensor in = parallel::column_input((*norm1_)(x), tp_);
  auto heads = [&](const Tensor& t) { return transpose(reshape(t, {B, T, H, hd}), 1, 2); };
  AttentionOptions opt;
  opt.key_padding_mask = key_padding_mask;
  const Tensor a = scaled_dot_product_attention(heads(q_->local(in)), heads(k_->local(in)),
                                                heads(v_->local(in)), opt);  // [B, H, T, hd]
  const Tensor h = add(x, (*out_)(reshape(transpose(a, 1, 2), {B, T, H * hd})));
  return add(h, (*fc2_)(gelu((*fc1_)((*norm2_)(h)))));
}

VisionTower::VisionTower(const Config& cfg, const TensorParallel& tp, Generator& gen)
    : cfg_(cfg),
      patch_embed_(register_module("patch_embed",
                                   std::make_unique<nn::Linear>(3 * cfg.patch_size * cfg.patch_size,
                                                                cfg.vision_width, true, gen))),
      blocks_(make_blocks(register_module("blocks", std::make_unique<nn::Container>()),
                          cfg.vision_layers, cfg.vision_width, cfg.vision_heads,
                          cfg.vision_width * cfg.mlp_ratio, cfg.layer_norm_eps, tp, gen)),
      norm_(register_module("norm",
                            std::make_unique<LayerNorm>(cfg.vision_width, cfg.layer_norm_eps))),
      head_(register_module(
          "head", std::make_unique<nn::Linear>(cfg.vision_width, cfg.embed_dim, true, gen))) {}

Tensor VisionTower::operator()(const Tensor& images) const {
  const int64_t B = images.size(0), p = cfg_.patch_size;
  const int64_t h = images.size(2) / p, w = images.size(3) / p;
  // [B, 3, h, p, w, p] -> [B, h, w, 3, p, p] -> [B, h*w, 3*p*p]; pixels from [0, 1] to [-1, 1].
  Tensor patches = reshape(images, {B, 3, h, p, w, p});
  patches = reshape(permute(patches, {0, 2, 4, 1, 3, 5}), {B, h * w, 3 * p * p});
  Tensor x = patch_embed_(add(mul(patches, 2.0), -1.0));
  const Tensor position = sincos_position_embedding_2d(h, w, cfg_.vision_width);
  x = add(x, cfg_.position_scale == 1.0 ? position : mul(position, cfg_.position_scale));
  for (const Block* b : blocks_) x = (*b)(x);
  return norm_(x);
}

Tensor VisionTower::pooled_embedding(const Tensor& features) const {
  return head_(mean(features, {1}));
}

TextTower::TextTower(const Config& cfg, const TensorParallel& tp, Generator& gen)
    : cfg_(cfg),
      token_embed_(register_module("token_embed",
                                   std::make_unique<nn::Embedding>(257, cfg.text_width, gen))),
      pos_embed_(&register_parameter(
          "pos_embed", nn::normal_parameter({cfg.text_max_len, cfg.text_width}, 0.02, gen))),
      blocks_(make_blocks(register_module("blocks", std::make_unique<nn::Container>()),
                          cfg.text_layers, cfg.text_width, cfg.text_heads,
                          cfg.text_width * cfg.mlp_ratio, cfg.layer_norm_eps, tp, gen)),
      norm_(
          register_module("norm", std::make_unique<LayerNorm>(cfg.text_width, cfg.layer_norm_eps))),
      head_(register_module(
          "head", std::make_unique<nn::Linear>(cfg.text_width, cfg.embed_dim, true, gen))) {}

Tensor TextTower::operator()(const std::vector<std::string>& texts) const {
  XOMNI_CHECK(!texts.empty(), "siglip_vq text tower: no texts");
  const int64_t B = int64_t(texts.size());
  std::vector<std::vector<int64_t>> tokens;
  int64_t T = 1;
  for (const std::string& t : texts) {
    tokens.push_back(byte_tokens(t, cfg_.text_max_len));
    T = std::max(T, int64_t(tokens.back().size()));
  }
  std::vector<int64_t> ids(size_t(B * T), 0);
  std::vector<uint8_t> padded(size_t(B * T), 1);
  std::vector<float> keep(size_t(B * T), 0.0f), count(size_t(B), 1.0f);
  for (int64_t b = 0; b < B; ++b) {
    const auto& tk = tokens[size_t(b)];
    // An empty caption reads as one (unmasked) padding token, so it still has an embedding.
    const size_t n = std::max<size_t>(tk.size(), 1);
    for (size_t i = 0; i < n; ++i) {
      ids[size_t(b * T) + i] = i < tk.size() ? tk[i] : 0;
      padded[size_t(b * T) + i] = 0;
      keep[size_t(b * T) + i] = 1.0f;
    }
    count[size_t(b)] = float(n);
  }
  const Tensor mask = Tensor::from_vector(padded, {B, T});
  Tensor x = add(token_embed_(Tensor::from_vector(ids, {B, T})), slice(*pos_embed_, 0, 0, T));
  for (const Block* b : blocks_) x = (*b)(x, mask);
  x = norm_(x);
  const Tensor pooled = div(sum(mul(x, Tensor::from_vector(keep, {B, T, 1})), {1}),
                            Tensor::from_vector(count, {B, 1}));
  return head_(pooled);
}

// ---- the tokenizer ----

SiglipVQ::SiglipVQ(const Config& cfg, uint64_t seed, const TensorParallel& tp)
    : cfg_(cfg), tp_(without_sequence_parallel(tp)) {
  cfg_.validate("siglip_vq", tp_.size());
  Generator gen(seed);
  vision_ = &register_module("vision", std::make_unique<VisionTower>(cfg_, tp_, gen));
  if (cfg_.text_tower)
    text_ = &register_module("text", std::make_unique<TextTower>(cfg_, tp_, gen));
  auto& contrastive = register_module("contrastive", std::make_unique<Group>());
  logit_scale_ = &contrastive.param("logit_scale", scalar_parameter(std::log(10.0)));
  logit_bias_ = &contrastive.param("logit_bias", scalar_parameter(-10.0));
  auto& quantizer = register_module("quantizer", std::make_unique<Group>());
  proj_ = &quantizer.child(
      "proj", std::make_unique<nn::Linear>(cfg_.vision_width, cfg_.code_dim, true, gen));
  codebook_ = &quantizer.param("codebook",
                               nn::normal_parameter({cfg_.codebook_size, cfg_.code_dim}, 1.0, gen));
}

Tensor SiglipVQ::features(const Tensor& images) const {
  check_images(images, cfg_.patch_size, "siglip_vq");
  return (*vision_)(images);
}

Tensor SiglipVQ::normalized_codebook() const {
  return l2_normalize(*codebook_);
}

Tensor SiglipVQ::project(const Tensor& feats) const {
  return l2_normalize((*proj_)(feats));
}

Tensor SiglipVQ::encode(const Tensor& images) const {
  NoGradGuard no_grad;
  const Tensor z = project(features(images));
  return vector_quantize(z, normalized_codebook(), cfg_.codebook_weight, cfg_.commitment_weight)
      .ids;
}

Tensor SiglipVQ::code_embeddings(const Tensor& ids) const {
  XOMNI_CHECK(ids.defined() && (ids.dtype() == DType::i64 || ids.dtype() == DType::i32),
              "siglip_vq code_embeddings: ids must be i32 or i64",
              ids.defined() ? std::string(", got ") + dtype_name(ids.dtype()) : std::string());
  for (int64_t id : ids.to_vector<int64_t>())
    XOMNI_CHECK(id >= 0 && id < cfg_.codebook_size, "siglip_vq code_embeddings: id ", id,
                " is outside the codebook [0, ", cfg_.codebook_size, ") (codebook_size ",
                cfg_.codebook_size, ")");
  return embedding(normalized_codebook(), ids);
}

plugins::QuantizedImages SiglipVQ::quantize(const Tensor& images) const {
  const Tensor z = project(features(images));
  const VectorQuantized vq =
      vector_quantize(z, normalized_codebook(), cfg_.codebook_weight, cfg_.commitment_weight);
  plugins::QuantizedImages out;
  out.ids = vq.ids;
  out.codes = vq.codes;
  out.continuous = z.detach();
  out.grid_h = images.size(2) / cfg_.patch_size;
  out.grid_w = images.size(3) / cfg_.patch_size;
  out.losses.total = add(vq.codebook_loss, vq.commitment_loss);
  const CodeUsage usage = code_usage(vq.ids, cfg_.codebook_size);
  out.losses.parts = {{"vq_codebook", vq.codebook_loss.item()},
                      {"vq_commitment", vq.commitment_loss.item()},
                      {"vq_perplexity", usage.perplexity},
                      {"vq_used", double(usage.used)}};
  return out;
}

Tensor SiglipVQ::image_embeddings(const Tensor& images) const {
  return l2_normalize(vision_->pooled_embedding(features(images)));
}

Tensor SiglipVQ::text_embeddings(const std::vector<std::string>& texts) const {
  XOMNI_CHECK(text_,
              "siglip_vq: this tokenizer has no text tower (text_tower = false), so it "
              "has no text embeddings or contrastive loss");
  return l2_normalize((*text_)(texts));
}

plugins::LossTerms SiglipVQ::contrastive_loss(const Tensor& images,
                                              const std::vector<std::string>& texts) const {
  XOMNI_CHECK(text_, "siglip_vq: contrastive_loss needs the text tower (text_tower = false)");
  check_images(images, cfg_.patch_size, "siglip_vq contrastive_loss");
  XOMNI_CHECK(int64_t(texts.size()) == images.size(0),
              "siglip_vq contrastive_loss: ", images.size(0), " images but ", texts.size(),
              " texts (one caption per image)");
  const Tensor logits =
      siglip_logits(image_embeddings(images), text_embeddings(texts), *logit_scale_, *logit_bias_);
  plugins::LossTerms out;
  out.total = sigmoid_contrastive_loss(logits);
  out.parts = {{"siglip_loss", out.total.item()}, {"siglip_acc", top1_accuracy(logits)}};
  return out;
}

int64_t SiglipVQ::restart_dead_codes(const Tensor& usage, const Tensor& candidates,
                                     Generator& gen) {
  const int64_t K = cfg_.codebook_size, D = cfg_.code_dim;
  XOMNI_CHECK(usage.defined() && usage.dim() == 1 && usage.size(0) == K,
              "siglip_vq restart_dead_codes: usage must be [codebook_size] = [", K, "], got ",
              usage.defined() ? shape_str(usage.shape()) : std::string("undefined"));
  const std::vector<double> counts = usage.to(DType::f64).to_vector<double>();
  std::vector<int64_t> dead;
  for (int64_t k = 0; k < K; ++k)
    if (counts[size_t(k)] == 0) dead.push_back(k);
  if (dead.empty()) return 0;
  XOMNI_CHECK(candidates.defined() && candidates.dim() == 2 && candidates.size(1) == D &&
                  candidates.size(0) >= 1 && is_floating(candidates.dtype()),
              "siglip_vq restart_dead_codes: candidates must be floating [M >= 1, code_dim = ", D,
              "], got ", candidates.defined() ? shape_str(candidates.shape()) : "undefined");
  const int64_t M = candidates.size(0);
  NoGradGuard no_grad;
  const std::vector<double> u = rand({int64_t(dead.size())}, gen, DType::f64).to_vector<double>();
  const Tensor cand = candidates.detach();
  for (size_t i = 0; i < dead.size(); ++i) {
    const int64_t m = std::min(M - 1, int64_t(u[i] * double(M)));
    slice(*codebook_, 0, dead[i], dead[i] + 1).copy_(slice(cand, 0, m, m + 1));
  }
  return int64_t(dead.size());
}

// ---- the adapter ----

ResidualAdapter::ResidualAdapter(const AdapterConfig& cfg, uint64_t seed) : cfg_(cfg) {
  cfg_.validate("residual adapter");
  Generator gen(seed);
  proj_ =
      &register_module("proj", std::make_unique<nn::Linear>(cfg_.in_dim, cfg_.out_dim, true, gen));
  norm_ = &register_module("norm", std::make_unique<LayerNorm>(cfg_.out_dim, cfg_.layer_norm_eps));
  fc1_ =
      &register_module("fc1", std::make_unique<nn::Linear>(cfg_.out_dim, cfg_.hidden, true, gen));
  fc2_ =
      &register_module("fc2", std::make_unique<nn::Linear>(cfg_.hidden, cfg_.out_dim, true, gen));
}

Tensor ResidualAdapter::forward(const Tensor& x) const {
  XOMNI_CHECK(x.defined() && x.dim() == 3 && x.size(2) == cfg_.in_dim, "residual adapter: input ",
              x.defined() ? shape_str(x.shape()) : std::string("undefined"),
              " must be [B, N, in_dim = ", cfg_.in_dim, "]");
  XOMNI_CHECK(x.dtype() == DType::f32, "residual adapter: input must be f32, got ",
              dtype_name(x.dtype()));
  const Tensor h = (*proj_)(x);
  return add(h, (*fc2_)(gelu((*fc1_)((*norm_)(h)))));
}

}  // namespace xomni::siglip_vq
