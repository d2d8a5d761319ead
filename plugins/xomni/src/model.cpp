#include "xomni/xomni_model/model.h"

#include <limits>

#include "xomni/core/ops/sampling.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/qwen2/weights.h"

namespace xomni::xomni_model {
namespace {
using parallel::ColumnParallelLinear;
using parallel::VocabParallelEmbedding;

// Norm weights see only this rank's sequence chunk under sequence parallelism.
std::unique_ptr<nn::RMSNorm> final_norm(const Config& cfg, const parallel::TensorParallel& tp) {
  nn::Sharding replica;
  replica.partial_grad = tp.sequence_parallel && tp.size() > 1;
  return std::make_unique<nn::RMSNorm>(cfg.base.hidden_size, cfg.base.rms_norm_eps, replica);
}

// The value of a closed logit column: the dtype's lowest finite value (softmax gives it 0).
double lowest(DType dt) {
  switch (dt) {
    case DType::f64:
      return std::numeric_limits<double>::lowest();
    case DType::bf16:
      return -3.3895313892515355e38;
    case DType::f16:
      return -65504.0;
    default:
      return double(std::numeric_limits<float>::lowest());
  }
}

Tensor closed(const Tensor& like, int64_t width) {
  Shape s = like.shape();
  s.back() = width;
  return Tensor::full(s, lowest(like.dtype()), like.dtype());
}
}  // namespace

XOmniForCausalLM::XOmniForCausalLM(const Config& cfg, uint64_t seed, const Placement& placement)
    : cfg_(cfg), tp_(placement.tp), cp_(placement.cp) {
  cfg_.validate("xomni config");
  const int64_t tp = tp_.size();
  XOMNI_CHECK(cfg_.base.vocab_size % tp == 0, "xomni: tp=", tp,
              " does not divide vocab_size=", cfg_.base.vocab_size,
              " (the text vocabulary, split by lm_embed_tokens and lm_head)");
  XOMNI_CHECK(cfg_.mm_vocab_size % tp == 0, "xomni: tp=", tp,
              " does not divide mm_vocab_size=", cfg_.mm_vocab_size,
              " (split by mm_embed_tokens and mm_head)");
  XOMNI_CHECK(cfg_.base.intermediate_size % tp == 0, "xomni: tp=", tp,
              " does not divide intermediate_size=", cfg_.base.intermediate_size);
  first_layer_ = placement.first_layer;
  last_layer_ = placement.last_layer < 0 ? cfg_.base.num_hidden_layers : placement.last_layer;
  check_layout();
  build(seed, placement);
}

void XOmniForCausalLM::check_layout() const {
  const int64_t L = cfg_.base.num_hidden_layers, adap = cfg_.num_mm_adap_layers;
  const int64_t head_start = L - cfg_.num_mm_head_layers;
  XOMNI_CHECK(0 <= first_layer_ && first_layer_ < last_layer_ && last_layer_ <= L,
              "xomni: pipeline stage with layers [", first_layer_, ", ", last_layer_, ") of a ", L,
              "-layer model");
  // The vision layers sit on the first and last stages: the first stage holds all adap layers
  // [0, adap), the last all head layers [L - head, L).
  const bool ok = (first_layer_ == 0 ? last_layer_ >= adap : first_layer_ >= adap) &&
                  (last_layer_ == L ? first_layer_ <= head_start : last_layer_ <= head_start);
  XOMNI_CHECK(ok, "xomni: the pipeline stage with layers [", first_layer_, ", ", last_layer_,
              ") splits the vision layers: the first stage must hold all ", adap,
              " adap layers [0, ", adap, ") and the last stage all ", cfg_.num_mm_head_layers,
              " head layers [", head_start, ", ", L,
              "); choose parallel.pp_layers so that the first count is >= num_mm_adap_layers and "
              "the last count >= num_mm_head_layers");
}

void XOmniForCausalLM::build(uint64_t seed, const Placement& placement) {
  const qwen2::Config& b = cfg_.base;
  const int64_t L = b.num_hidden_layers, h = b.hidden_size, hd = b.head_dim();
  const int64_t I = b.intermediate_size, nh = b.num_attention_heads, nkv = b.num_key_value_heads;
  // Every rank draws the generator in the same global order and skips what lives elsewhere, so
  // weights do not depend on the layout (as qwen2 does).
  Generator gen(seed);
  auto skip = [&gen](const Shape& global) { gen.reserve(uint64_t((shape_numel(global) + 1) / 2)); };
  auto model = std::make_unique<nn::Container>();
  if (is_first_stage()) {
    lm_embed_tokens_ = &model->add(
        "lm_embed_tokens", std::make_unique<VocabParallelEmbedding>(b.vocab_size, h, tp_, gen));
    mm_embed_tokens_ = &model->add("mm_embed_tokens", std::make_unique<VocabParallelEmbedding>(
                                                          cfg_.mm_vocab_size, h, tp_, gen));
  } else {
    skip({b.vocab_size, h});
    skip({cfg_.mm_vocab_size, h});
  }
  auto layers = std::make_unique<nn::Container>();
  for (int64_t i = 0; i < L; ++i) {
    if (i >= first_layer_ && i < last_layer_) {
      layers_.push_back(&layers->add(std::to_string(i),
                                     std::make_unique<qwen2::DecoderLayer>(b, placement, gen)));
    } else {  // q, k, v, o, gate, up, down
      for (const Shape& w : {Shape{nh * hd, h}, Shape{nkv * hd, h}, Shape{nkv * hd, h},
                             Shape{h, nh * hd}, Shape{I, h}, Shape{I, h}, Shape{h, I}})
        skip(w);
    }
  }
  model->add("layers", std::move(layers));
  if (is_last_stage()) {
    lm_norm_ = &model->add("lm_norm", final_norm(cfg_, tp_));
    mm_norm_ = &model->add("mm_norm", final_norm(cfg_, tp_));
  }
  register_module("model", std::move(model));
  if (is_last_stage()) {
    lm_head_ = &register_module(
        "lm_head", std::make_unique<ColumnParallelLinear>(h, b.vocab_size, false, tp_, gen));
    mm_head_ = &register_module(
        "mm_head", std::make_unique<ColumnParallelLinear>(h, cfg_.mm_vocab_size, false, tp_, gen));
  }
}

Tensor XOmniForCausalLM::image_mask(const Tensor& ids, const Tensor& like) const {
  const std::vector<int64_t> v = ids.to_vector<int64_t>();
  const int64_t V = cfg_.base.vocab_size, top = V + cfg_.mm_vocab_size;
  std::vector<uint8_t> m(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    XOMNI_CHECK(v[i] >= 0 && v[i] < top, "xomni: token id ", v[i], " at position ", i,
                " is outside [0, ", top, ") (text ids < vocab_size=", V,
                ", image ids vocab_size + k with k < mm_vocab_size=", cfg_.mm_vocab_size, ")");
    m[i] = v[i] >= V;
  }
  Tensor mask = Tensor::from_vector(m, {ids.size(0), ids.size(1), 1});
  // Hidden states hold this rank's chunk of the sequence under sequence parallelism.
  if (tp_.sequence_parallel && tp_.size() > 1) mask = parallel::scatter_sequence(mask, 1, tp_);
  XOMNI_CHECK(mask.size(1) == like.size(1), "xomni: the token ids cover ", mask.size(1),
              " positions of this rank but the hidden states ", like.size(1));
  return mask;
}

Tensor XOmniForCausalLM::embed(const Tensor& ids) const {
  // Text ids find their rows in lm_embed_tokens, image ids (V + k) theirs in mm_embed_tokens;
  // each table gives zero rows for the others, so the sum is the embedding of every token.
  const int64_t V = cfg_.base.vocab_size;
  const Tensor partial = add(
      parallel::embedding_range(lm_embed_tokens_->weight(), ids, lm_embed_tokens_->vocab_start()),
      parallel::embedding_range(mm_embed_tokens_->weight(), ids,
                                V + mm_embed_tokens_->vocab_start()));
  return tp_.sequence_parallel ? parallel::reduce_scatter_sequence(partial, 1, tp_)
                               : parallel::reduce_from_tp(partial, tp_);
}

Tensor XOmniForCausalLM::heads(const Tensor& x, plugins::LogitMode mode) const {
  using plugins::LogitMode;
  if (mode == LogitMode::training) return cat({(*lm_head_)(x), (*mm_head_)(x)}, -1);
  const int64_t V = cfg_.base.vocab_size, M = cfg_.mm_vocab_size, K = cfg_.image_vocab_size;
  if (mode == LogitMode::text) {
    const Tensor text = (*lm_head_)(x);
    return cat({text, closed(text, M)}, -1);
  }
  const Tensor codes = slice((*mm_head_)(x), -1, 0, K);
  std::vector<Tensor> parts = {closed(codes, V), codes};
  if (M > K) parts.push_back(closed(codes, M - K));
  return cat(parts, -1);
}

Tensor XOmniForCausalLM::logits(const Tensor& input, const plugins::BackboneInputs& in) const {
  XOMNI_CHECK(!in.prefix_embeddings.defined(),
              "xomni: prefix_embeddings are not used by X-Omni (images enter as token ids "
              "vocab_size + k); pass the image codes in the ids");
  XOMNI_CHECK(in.mode == plugins::LogitMode::training || tp_.size() == 1,
              "xomni: ", in.mode == plugins::LogitMode::text ? "text" : "image",
              "-mode logits (full rows of width vocab_size + mm_vocab_size) need tp=1, got tp=",
              tp_.size(), "; use LogitMode::training and token_nll under tensor parallelism");
  XOMNI_CHECK(input.dim() == (is_first_stage() ? 2 : 3), "xomni: the input must be ",
              is_first_stage() ? "token ids [B, T]" : "hidden states [B, T, hidden]", ", got ",
              shape_str(input.shape()));
  qwen2::KVCache* cache = nullptr;
  if (in.cache) {
    cache = dynamic_cast<qwen2::KVCache*>(in.cache);
    XOMNI_CHECK(cache, "xomni: the decode cache was not made by this model's new_cache()");
    XOMNI_CHECK(tp_.size() == 1, "xomni: cached decoding runs with tp=1");
  }
  // The whole sequence length (hidden states are split along it under sequence parallelism).
  const int64_t T =
      is_first_stage() || !tp_.sequence_parallel ? input.size(1) : input.size(1) * tp_.size();
  XOMNI_CHECK(!cp_ || cp_->size() == 1 || in.positions.defined(),
              "xomni: with context parallelism the caller gives each token's position");
  XOMNI_CHECK(!cp_ || cp_->size() == 1 || !cache,
              "xomni: cached decoding runs without context parallelism");
  Tensor positions = in.positions;
  if (!positions.defined())
    positions =
        add(Tensor::arange(T, DType::f64), double(cache ? cache->length : 0)).to(DType::i64);
  AttentionOptions attn;
  attn.causal = true;
  if (in.segment_ids.defined()) {
    XOMNI_CHECK(!cache, "xomni: segment ids are for packed training, not cached decoding");
    attn.q_segment_ids = in.segment_ids;
    attn.k_segment_ids = in.segment_ids;
  }
  // Which positions are image tokens: from the ids on the first stage, from inputs.token_ids on
  // later stages (needed where a vision layer or the final norms run).
  bool needs_mask = is_last_stage();
  for (int64_t i = first_layer_; i < last_layer_; ++i) needs_mask |= cfg_.is_vision_layer(i);
  const Tensor& ids = is_first_stage() ? input : in.token_ids;
  XOMNI_CHECK(!needs_mask || ids.defined(), "xomni: the pipeline stage with layers [", first_layer_,
              ", ", last_layer_,
              ") needs BackboneInputs::token_ids [B, T] (which positions are image tokens); "
              "the pipeline schedule must pass this call's token ids to every stage");
  Tensor x = is_first_stage() ? embed(input) : input;
  Tensor mask;  // u8 [B, T_local, 1]
  if (needs_mask) {
    XOMNI_CHECK(ids.dim() == 2 && ids.size(0) == x.size(0), "xomni: token_ids must be [B, T] = [",
                x.size(0), ", T], got ", shape_str(ids.shape()));
    mask = image_mask(ids, x);
  }
  for (size_t j = 0; j < layers_.size(); ++j) {
    const qwen2::DecoderLayer* layer = layers_[j];
    Tensor y;
    if (in.checkpoint_layers && !cache) {
      y = checkpoint(
          [layer, positions, attn](const std::vector<Tensor>& v) {
            return (*layer)(v[0], positions, attn, nullptr, 0);
          },
          {x});
    } else {
      y = (*layer)(x, positions, attn, cache, int64_t(j));
    }
    // A vision layer runs on every position (text K/V included) but only image positions keep
    // its output.
    x = cfg_.is_vision_layer(first_layer_ + int64_t(j)) ? where(mask, y, x) : y;
  }
  if (cache) cache->length += T;
  if (!is_last_stage()) return x;
  x = where(mask, (*mm_norm_)(x), (*lm_norm_)(x));
  return heads(x, in.mode);
}

Tensor XOmniForCausalLM::token_nll(const Tensor& logits, const Tensor& targets) const {
  const int64_t V = cfg_.base.vocab_size, K = cfg_.image_vocab_size;
  const int64_t Vl = local_text_vocab(), Ml = local_mm_vocab();
  XOMNI_CHECK(logits.dim() >= 2 && logits.size(logits.dim() - 1) == Vl + Ml,
              "xomni token_nll: logits must be LogitMode::training rows of width ", Vl, " + ", Ml,
              " (this rank's lm_head and mm_head pieces), got ", shape_str(logits.shape()));
  const int64_t n = targets.numel();
  XOMNI_CHECK(logits.numel() == n * (Vl + Ml), "xomni token_nll: logits ",
              shape_str(logits.shape()), " do not match targets ", shape_str(targets.shape()));
  // Each modality's targets, the other's set to -100 (ignored).
  std::vector<int64_t> text_t(size_t(n), -100), image_t(size_t(n), -100);
  const std::vector<int64_t> t = targets.to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = t[size_t(i)];
    if (id == -100) continue;
    XOMNI_CHECK(id >= 0 && id < V + K, "xomni token_nll: target ", id, " at position ", i,
                " is neither -100 nor a text id (< ", V, ") nor an image id (", V, " + k, k < ", K,
                ")");
    (id < V ? text_t : image_t)[size_t(i)] = id < V ? id : id - V;
  }
  const Tensor flat = reshape(logits, {n, Vl + Ml});
  const Tensor text_logits = slice(flat, 1, 0, Vl);
  // mm_head rows past the image codes are never a target: closed by a large negative bias.
  std::vector<float> bias(size_t(Ml), 0.0f);
  for (int64_t j = 0; j < Ml; ++j)
    if (tp_.rank() * Ml + j >= K) bias[size_t(j)] = -1e9f;
  const Tensor image_logits =
      add(slice(flat, 1, Vl, Vl + Ml), Tensor::from_vector(bias, {Ml}).to(logits.dtype()));
  const Tensor text_ids = Tensor::from_vector(text_t, {n});
  const Tensor image_ids = Tensor::from_vector(image_t, {n});
  Tensor nll;
  if (tp_.size() == 1) {
    nll = add(cross_entropy(text_logits, text_ids, -100, Reduction::none),
              cross_entropy(image_logits, image_ids, -100, Reduction::none));
  } else {
    nll =
        add(parallel::vocab_parallel_cross_entropy(text_logits, text_ids, tp_.rank() * Vl, tp_),
            parallel::vocab_parallel_cross_entropy(image_logits, image_ids, tp_.rank() * Ml, tp_));
  }
  return reshape(nll, targets.shape());
}

std::string XOmniForCausalLM::init_source(const std::string& name,
                                          const std::set<std::string>& source) const {
  auto have = [&](const std::string& n) { return source.count(n) ? n : std::string(); };
  if (source.count("model.lm_embed_tokens.weight") || !source.count("model.embed_tokens.weight"))
    return have(name);
  // A Qwen2 text LM (e.g. the lm0 stage): its layers are the language layers, its embedding and
  // norm the text ones; vision layers and the mm_* parts keep their initialisation.
  if (name == "model.lm_embed_tokens.weight") return have("model.embed_tokens.weight");
  if (name == "model.lm_norm.weight") return have("model.norm.weight");
  if (name == "lm_head.weight")
    return source.count("lm_head.weight") ? name : have("model.embed_tokens.weight");
  const std::string layers = "model.layers.";
  if (name.compare(0, layers.size(), layers) == 0) {
    const size_t dot = name.find('.', layers.size());
    if (dot == std::string::npos) return "";
    const int64_t i = std::stoll(name.substr(layers.size(), dot - layers.size()));
    if (cfg_.is_vision_layer(i)) return "";
    return have(layers + std::to_string(i - cfg_.num_mm_adap_layers) + name.substr(dot));
  }
  return "";
}

void XOmniForCausalLM::load_weights(const TensorMap& weights) {
  qwen2::WeightCheck check;
  check.model = "xomni";
  check.config_dtype = cfg_.base.weight_dtype();
  check.torch_dtype = cfg_.base.torch_dtype;
  qwen2::load_checked_weights(*this, weights, check);
}

std::vector<int64_t> XOmniForCausalLM::generate_image_greedy(const std::vector<int64_t>& prompt,
                                                             int64_t steps, bool use_cache) const {
  NoGradGuard no_grad;
  std::vector<int64_t> tokens = prompt, feed = prompt;
  std::unique_ptr<plugins::DecodeCache> cache;
  if (use_cache) cache = new_cache(1, int64_t(prompt.size()) + steps);
  for (int64_t s = 0; s < steps; ++s) {
    const std::vector<int64_t>& input = use_cache ? feed : tokens;
    plugins::BackboneInputs in;
    in.cache = cache.get();
    in.mode = plugins::LogitMode::image;
    const Tensor out = logits(Tensor::from_vector(input, {1, int64_t(input.size())}), in);
    const Tensor last = slice(out, 1, out.size(1) - 1, out.size(1));
    const int64_t next = greedy(reshape(last, {1, vocab_size()})).to_vector<int64_t>()[0];
    tokens.push_back(next);
    feed = {next};
  }
  return std::vector<int64_t>(tokens.begin() + int64_t(prompt.size()), tokens.end());
}

parallel::ModelDims XOmniForCausalLM::dims() const {
  parallel::ModelDims d;
  d.num_attention_heads = cfg_.base.num_attention_heads;
  d.num_key_value_heads = cfg_.base.num_key_value_heads;
  d.vocab_size = cfg_.base.vocab_size;
  d.intermediate_size = cfg_.base.intermediate_size;
  d.num_hidden_layers = cfg_.base.num_hidden_layers;
  return d;
}

double XOmniForCausalLM::flops_per_token(int64_t seq_len) const {
  // As qwen2: 6 per parameter (forward + backward) plus attention's score and value products.
  // Vision layers run on every position, so they count like language layers.
  double params = 0;
  for (const nn::ParamInfo& p : parameter_infos())
    params += double(shape_numel(p.sharding.global_shape(p.tensor.shape())));
  return 6.0 * params +
         12.0 * double(cfg_.base.num_hidden_layers * cfg_.base.hidden_size * seq_len) / 2.0;
}

std::unique_ptr<plugins::DecodeCache> XOmniForCausalLM::new_cache(int64_t batch,
                                                                  int64_t capacity) const {
  return std::make_unique<qwen2::KVCache>(cfg_.base, batch, capacity);
}

}  // namespace xomni::xomni_model
