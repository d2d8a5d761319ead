#include "xomni/qwen2/model.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "xomni/core/ops/fused.h"
#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/ops/sampling.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/vocab_parallel_linear_loss.h"
#include "xomni/qwen2/weights.h"

namespace xomni::qwen2 {
namespace {
using parallel::ColumnParallelLinear;
using parallel::RowParallelLinear;

std::unique_ptr<ColumnParallelLinear> column(int64_t in, int64_t out, bool bias,
                                             const TensorParallel& tp, Generator& gen) {
  return std::make_unique<ColumnParallelLinear>(in, out, bias, tp, gen);
}
std::unique_ptr<RowParallelLinear> row(int64_t in, int64_t out, const TensorParallel& tp,
                                       Generator& gen) {
  return std::make_unique<RowParallelLinear>(in, out, false, tp, gen);
}
// Norm weights see only this rank's sequence chunk under sequence parallelism.
std::unique_ptr<nn::RMSNorm> norm(const Config& cfg, const TensorParallel& tp) {
  nn::Sharding replica;
  replica.partial_grad = tp.sequence_parallel && tp.size() > 1;
  return std::make_unique<nn::RMSNorm>(cfg.hidden_size, cfg.rms_norm_eps, replica);
}
}  // namespace

KVCache::KVCache(const Config& cfg, int64_t batch, int64_t cap) : capacity(cap) {
  XOMNI_CHECK(batch >= 1 && cap >= 1, "qwen2: a KV cache needs batch >= 1 and capacity >= 1, got ",
              batch, " and ", cap);
  XOMNI_CHECK(cap <= cfg.max_position_embeddings, "qwen2: a KV cache of ", cap,
              " tokens exceeds max_position_embeddings=", cfg.max_position_embeddings,
              " (ask for fewer tokens)");
  const Shape shape{batch, cfg.num_key_value_heads, cap, cfg.head_dim()};
  // Both caches of every layer, checked as one product before the first allocation.
  const std::string what =
      detail::concat("qwen2: KV cache for batch ", batch, " x ", cap, " tokens");
  const int64_t bytes = checked_nbytes(shape, dtype_size(DType::f32), what);
  checked_mul(bytes, checked_mul(2, cfg.num_hidden_layers, what), what);
  try {
    for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
      k.push_back(Tensor::zeros(shape));
      v.push_back(Tensor::zeros(shape));
    }
  } catch (const Error& e) {
    throw Error(what + " (" + human_bytes(2.0 * double(cfg.num_hidden_layers) * double(bytes)) +
                "): " + e.what());
  }
}

Attention::Attention(const Config& cfg, const Placement& placement, Generator& gen)
    : Attention(cfg, placement.tp, placement.cp, gen) {}

Attention::Attention(const Config& cfg, const TensorParallel& tp, parallel::Communicator* cp,
                     Generator& gen)
    : cfg_(cfg),
      tp_(tp),
      cp_(cp),
      heads_(cfg.num_attention_heads / tp.size()),
      kv_heads_(cfg.num_key_value_heads / tp.size()),
      q_proj_(register_module(
          "q_proj",
          column(cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim(), true, tp, gen))),
      k_proj_(register_module(
          "k_proj",
          column(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim(), true, tp, gen))),
      v_proj_(register_module(
          "v_proj",
          column(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim(), true, tp, gen))),
      o_proj_(register_module(
          "o_proj", row(cfg.num_attention_heads * cfg.head_dim(), cfg.hidden_size, tp, gen))) {
  XOMNI_CHECK(cfg.num_attention_heads % tp.size() == 0 && cfg.num_key_value_heads % tp.size() == 0,
              "qwen2: tp=", tp.size(),
              " does not divide num_attention_heads=", cfg.num_attention_heads,
              " and num_key_value_heads=", cfg.num_key_value_heads);
}

Tensor Attention::operator()(const Tensor& x, const Tensor& positions, const AttentionOptions& mask,
                             KVCache* cache, int64_t layer) const {
  const int64_t hd = cfg_.head_dim(), nh = heads_, nkv = kv_heads_;
  // The projections see the whole sequence (gathered under sequence parallelism).
  const Tensor in = parallel::column_input(x, tp_);
  Tensor q = q_proj_.local(in), k = k_proj_.local(in), v = v_proj_.local(in);
  const int64_t B = q.size(0), T = q.size(1);
  // One kernel rotates q and k straight into attention's [B, H, T, hd] layout (out of place:
  // the projections' outputs are what their backward saved).
  const RopeQK rotated =
      rope_qk(reshape(q, {B, T, nh, hd}), reshape(k, {B, T, nkv, hd}), positions, cfg_.rope_theta);
  q = rotated.q;
  k = rotated.k;
  v = transpose(reshape(v, {B, T, nkv, hd}), 1, 2);
  if (cache) {
    const int64_t start = cache->length, end = start + T;
    XOMNI_CHECK(end <= cache->capacity, "qwen2 attention: KV cache of capacity ", cache->capacity,
                " cannot hold ", end, " tokens");
    slice(cache->k[size_t(layer)], 2, start, end).copy_(k);
    slice(cache->v[size_t(layer)], 2, start, end).copy_(v);
    k = slice(cache->k[size_t(layer)], 2, 0, end);
    v = slice(cache->v[size_t(layer)], 2, 0, end);
  }
  Tensor a;  // [B, H, T, hd]
  if (cp_ && cp_->size() > 1) {
    XOMNI_CHECK(!cache, "qwen2: cached decoding runs without context parallelism");
    parallel::RingAttentionOptions ring;
    ring.causal = mask.causal;
    ring.segment_ids = mask.q_segment_ids;
    a = parallel::ring_attention(q, k, v, ring, parallel::ContextParallel{cp_});
  } else {
    a = scaled_dot_product_attention(q, k, v, mask);
  }
  return o_proj_(reshape(transpose(a, 1, 2), {B, T, nh * hd}));
}

MLP::MLP(const Config& cfg, const TensorParallel& tp, Generator& gen)
    : tp_(tp),
      gate_proj_(register_module("gate_proj",
                                 column(cfg.hidden_size, cfg.intermediate_size, false, tp, gen))),
      up_proj_(register_module("up_proj",
                               column(cfg.hidden_size, cfg.intermediate_size, false, tp, gen))),
      down_proj_(
          register_module("down_proj", row(cfg.intermediate_size, cfg.hidden_size, tp, gen))) {}

Tensor MLP::operator()(const Tensor& x) const {
  const Tensor in = parallel::column_input(x, tp_);
  return down_proj_(swiglu(gate_proj_.local(in), up_proj_.local(in)));
}

DecoderLayer::DecoderLayer(const Config& cfg, const Placement& placement, Generator& gen)
    : input_layernorm_(register_module("input_layernorm", norm(cfg, placement.tp))),
      self_attn_(register_module("self_attn", std::make_unique<Attention>(cfg, placement, gen))),
      post_attention_layernorm_(
          register_module("post_attention_layernorm", norm(cfg, placement.tp))),
      mlp_(register_module("mlp", std::make_unique<MLP>(cfg, placement.tp, gen))),
      rms_norm_eps_(cfg.rms_norm_eps) {}

// The residual add after attention and the post-attention norm are one kernel (the norm's
// weight stays the module's parameter, so names, sharding and loading are unchanged). The
// layer's final add stays separate: fusing it with the next layer's input norm would make the
// layer's output a pair, which activation checkpointing and pipeline stages pass as one tensor.
Tensor DecoderLayer::operator()(const Tensor& x, const Tensor& positions,
                                const AttentionOptions& mask, KVCache* cache, int64_t layer) const {
  const Tensor a = self_attn_(input_layernorm_(x), positions, mask, cache, layer);
  const AddRmsNorm h =
      add_rms_norm(x, a, post_attention_layernorm_.parameter("weight"), rms_norm_eps_);
  return add(h.sum, mlp_(h.normed));
}

CausalLM::CausalLM(const Config& cfg, uint64_t seed, const TensorParallel& tp)
    : CausalLM(cfg, seed, Placement{tp, nullptr, 0, -1}) {}

CausalLM::CausalLM(const Config& cfg, uint64_t seed, const Placement& placement)
    : cfg_(cfg), tp_(placement.tp), cp_(placement.cp) {
  cfg_.validate("qwen2 config");
  XOMNI_CHECK(cfg_.vocab_size % tp_.size() == 0 && cfg_.intermediate_size % tp_.size() == 0,
              "qwen2: tp=", tp_.size(), " does not divide vocab_size=", cfg_.vocab_size,
              " and intermediate_size=", cfg_.intermediate_size);
  first_layer_ = placement.first_layer;
  last_layer_ = placement.last_layer < 0 ? cfg_.num_hidden_layers : placement.last_layer;
  XOMNI_CHECK(
      0 <= first_layer_ && first_layer_ < last_layer_ && last_layer_ <= cfg_.num_hidden_layers,
      "qwen2: pipeline stage with layers [", first_layer_, ", ", last_layer_, ") of a ",
      cfg_.num_hidden_layers, "-layer model");
  XOMNI_CHECK(!cfg_.tie_word_embeddings || (is_first_stage() && is_last_stage()),
              "qwen2: with pipeline stages the input embedding (first stage) and the output head "
              "(last stage) cannot be tied; set tie_word_embeddings = false");
  try {
    build(seed, placement);
  } catch (const Error& e) {  // out of memory: say which settings asked for it
    const int64_t n = cfg_.parameter_count("qwen2 config");
    throw Error(detail::concat(
        "qwen2: cannot build the model (vocab_size=", cfg_.vocab_size,
        ", hidden_size=", cfg_.hidden_size, ", intermediate_size=", cfg_.intermediate_size,
        ", num_hidden_layers=", cfg_.num_hidden_layers, ": ", n, " parameters, ",
        human_bytes(4.0 * double(n)), " in f32): ", e.what()));
  }
}

void CausalLM::build(uint64_t seed, const Placement& placement) {
  const TensorParallel& tp = tp_;
  const int64_t L = cfg_.num_hidden_layers;
  // Every rank draws the generator in the same global order and skips what lives elsewhere, so
  // weights do not depend on the layout.
  Generator gen(seed);
  auto skip = [&gen](const Shape& global) { gen.reserve(uint64_t((shape_numel(global) + 1) / 2)); };
  const int64_t h = cfg_.hidden_size, hd = cfg_.head_dim(), I = cfg_.intermediate_size;
  const int64_t nh = cfg_.num_attention_heads, nkv = cfg_.num_key_value_heads;
  auto model = std::make_unique<nn::Container>();
  if (is_first_stage())
    embed_tokens_ = &model->add("embed_tokens", std::make_unique<parallel::VocabParallelEmbedding>(
                                                    cfg_.vocab_size, h, tp, gen));
  else
    skip({cfg_.vocab_size, h});
  auto layers = std::make_unique<nn::Container>();
  for (int64_t i = 0; i < L; ++i) {
    if (i >= first_layer_ && i < last_layer_) {
      layers_.push_back(
          &layers->add(std::to_string(i), std::make_unique<DecoderLayer>(cfg_, placement, gen)));
    } else {  // q, k, v, o, gate, up, down
      for (const Shape& w : {Shape{nh * hd, h}, Shape{nkv * hd, h}, Shape{nkv * hd, h},
                             Shape{h, nh * hd}, Shape{I, h}, Shape{I, h}, Shape{h, I}})
        skip(w);
    }
  }
  model->add("layers", std::move(layers));
  if (is_last_stage()) norm_ = &model->add("norm", norm(cfg_, tp));
  model_ = &register_module("model", std::move(model));
  if (is_last_stage() && !cfg_.tie_word_embeddings)
    lm_head_ = &register_module("lm_head", column(h, cfg_.vocab_size, false, tp, gen));
}

void CausalLM::check_prefix(const ForwardOptions& opt, const Tensor& ids) const {
  const Tensor& prefix = opt.prefix_embeddings;
  const int64_t h = cfg_.hidden_size;
  XOMNI_CHECK(prefix.dim() == 3, "qwen2: prefix_embeddings must be [B, P, hidden_size=", h,
              "], got ", shape_str(prefix.shape()));
  XOMNI_CHECK(prefix.size(0) == ids.size(0), "qwen2: prefix_embeddings ", shape_str(prefix.shape()),
              " has batch ", prefix.size(0), " but the ids ", shape_str(ids.shape()),
              " have batch ", ids.size(0));
  XOMNI_CHECK(prefix.size(2) == h, "qwen2: prefix_embeddings ", shape_str(prefix.shape()),
              " has width ", prefix.size(2), " but the model's hidden_size is ", h);
  const DType want = embed_tokens_->weight().dtype();
  XOMNI_CHECK(prefix.dtype() == want, "qwen2: prefix_embeddings are ", dtype_name(prefix.dtype()),
              " but the token embeddings are ", dtype_name(want));
  XOMNI_CHECK(!cp_ || cp_->size() == 1, "qwen2: prefix_embeddings are not supported under ",
              "context parallelism (cp=", cp_ ? cp_->size() : 1,
              "): each cp rank holds a chunk of the ids; run with cp=1");
  const int64_t P = prefix.size(1), total = P + ids.size(1);
  XOMNI_CHECK(!tp_.sequence_parallel || total % tp_.size() == 0,
              "qwen2: with sequence parallelism over tp=", tp_.size(), " the prefix and ids (", P,
              " + ", ids.size(1), " = ", total, " positions) must divide by ", tp_.size());
  if (opt.positions.defined())
    XOMNI_CHECK(opt.positions.dim() >= 1 && opt.positions.size(opt.positions.dim() - 1) == total,
                "qwen2: with prefix_embeddings the positions cover the prefix and the ids (", P,
                " + ", ids.size(1), " = ", total, "), got positions ",
                shape_str(opt.positions.shape()));
  if (opt.segment_ids.defined())
    XOMNI_CHECK(opt.segment_ids.dim() == 2 && opt.segment_ids.size(0) == ids.size(0) &&
                    opt.segment_ids.size(1) == total,
                "qwen2: with prefix_embeddings the segment_ids must be [B, P + T] = [", ids.size(0),
                ", ", total, "] (", P, " prefix + ", ids.size(1), " ids), got ",
                shape_str(opt.segment_ids.shape()));
}

Tensor CausalLM::embed_with_prefix(const Tensor& ids, const Tensor& prefix) const {
  if (!tp_.sequence_parallel || tp_.size() == 1)  // the embedding output is whole on every rank
    return cat({prefix, (*embed_tokens_)(ids)}, 1);
  // Sequence parallelism: the whole sequence first (all-reduce instead of the embedding's
  // reduce-scatter), then this rank's chunk of prefix + ids.
  const Tensor ids_embedded = parallel::reduce_from_tp(
      parallel::embedding_range(embed_tokens_->weight(), ids, embed_tokens_->vocab_start()), tp_);
  return parallel::scatter_sequence(cat({prefix, ids_embedded}, 1), 1, tp_);
}

Tensor CausalLM::hidden_states(const Tensor& input, const ForwardOptions& opt) const {
  XOMNI_CHECK(input.dim() == (is_first_stage() ? 2 : 3), "qwen2: the input must be ",
              is_first_stage() ? "token ids [B, T]" : "hidden states [B, T, hidden]", ", got ",
              shape_str(input.shape()));
  const bool prefixed = is_first_stage() && opt.prefix_embeddings.defined();
  if (prefixed) check_prefix(opt, input);
  const int64_t P = prefixed ? opt.prefix_embeddings.size(1) : 0;
  // The whole sequence length (hidden states are split along it under sequence parallelism).
  const int64_t T =
      is_first_stage() || !tp_.sequence_parallel ? P + input.size(1) : input.size(1) * tp_.size();
  XOMNI_CHECK(!cp_ || cp_->size() == 1 || opt.positions.defined(),
              "qwen2: with context parallelism the caller gives each token's position");
  const int64_t offset = opt.cache ? opt.cache->length : 0;
  Tensor positions = opt.positions;
  if (!positions.defined())
    positions = add(Tensor::arange(T, DType::f64), double(offset)).to(DType::i64);
  AttentionOptions mask;
  mask.causal = true;
  XOMNI_CHECK(!opt.cache || tp_.size() == 1, "qwen2: cached decoding runs with tp=1");
  if (opt.segment_ids.defined()) {
    XOMNI_CHECK(!opt.cache, "qwen2: segment ids are for packed training, not cached decoding");
    mask.q_segment_ids = opt.segment_ids;
    mask.k_segment_ids = opt.segment_ids;
  }
  Tensor x = !is_first_stage() ? input
             : prefixed        ? embed_with_prefix(input, opt.prefix_embeddings)
                               : (*embed_tokens_)(input);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer* layer = layers_[i];
    if (opt.checkpoint_layers && !opt.cache) {
      x = checkpoint(
          [layer, positions, mask](const std::vector<Tensor>& in) {
            return (*layer)(in[0], positions, mask, nullptr, 0);
          },
          {x});
    } else {
      x = (*layer)(x, positions, mask, opt.cache, int64_t(i));
    }
  }
  if (opt.cache) opt.cache->length += T;
  return is_last_stage() ? (*norm_)(x) : x;
}

const Tensor& CausalLM::head_weight() const {
  return lm_head_ ? lm_head_->weight() : embed_tokens_->weight();
}

Tensor CausalLM::operator()(const Tensor& input, const ForwardOptions& opt) const {
  const Tensor x = hidden_states(input, opt);
  if (!is_last_stage()) return x;
  // The head (tied: the embedding's vocabulary piece) as a column-parallel linear.
  return linear(parallel::column_input(x, tp_), head_weight());
}

namespace {

// Whether two tensors hold the same values (compared in `a`'s dtype).
bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const Tensor x = a.contiguous(), y = b.to(a.dtype()).contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
}

}  // namespace

void CausalLM::load_weights(const TensorMap& weights) {
  WeightCheck check;
  check.model = "qwen2";
  check.config_dtype = cfg_.weight_dtype();
  check.torch_dtype = cfg_.torch_dtype;
  // A tied model has no head of its own. Some exporters store a copy of the embedding as
  // lm_head.weight anyway; a head that differs would be silently ignored, so it is refused.
  check.tolerate_unused = [&](const std::string& name, const Tensor& t) {
    if (!cfg_.tie_word_embeddings || name != "lm_head.weight") return false;
    auto embed = weights.find("model.embed_tokens.weight");
    if (embed == weights.end() || same_values(embed->second, t)) return true;
    throw Error(
        "qwen2: the weights hold an lm_head.weight that differs from "
        "model.embed_tokens.weight, but the config says tie_word_embeddings=true, so the "
        "stored head would be ignored; set tie_word_embeddings to false in the config to use "
        "it, or remove lm_head.weight");
  };
  load_checked_weights(*this, weights, check);
}

std::vector<int64_t> CausalLM::generate_greedy(const std::vector<int64_t>& prompt, int64_t steps,
                                               bool use_cache) const {
  NoGradGuard no_grad;
  std::vector<int64_t> tokens = prompt;
  std::unique_ptr<KVCache> cache;
  if (use_cache) cache = std::make_unique<KVCache>(cfg_, 1, int64_t(prompt.size()) + steps);
  std::vector<int64_t> feed = prompt;
  for (int64_t s = 0; s < steps; ++s) {
    const std::vector<int64_t>& input = use_cache ? feed : tokens;
    ForwardOptions opt;
    opt.cache = cache.get();
    Tensor logits = (*this)(Tensor::from_vector(input, {1, int64_t(input.size())}), opt);
    Tensor last = slice(logits, 1, logits.size(1) - 1, logits.size(1));
    const int64_t next = greedy(reshape(last, {1, cfg_.vocab_size})).to_vector<int64_t>()[0];
    tokens.push_back(next);
    feed = {next};
  }
  return std::vector<int64_t>(tokens.begin() + int64_t(prompt.size()), tokens.end());
}

namespace {
ForwardOptions forward_options(const plugins::BackboneInputs& in) {
  ForwardOptions opt;
  opt.prefix_embeddings = in.prefix_embeddings;
  opt.positions = in.positions;
  opt.segment_ids = in.segment_ids;
  opt.checkpoint_layers = in.checkpoint_layers;
  if (in.cache) {
    opt.cache = dynamic_cast<KVCache*>(in.cache);
    XOMNI_CHECK(opt.cache, "qwen2: the decode cache was not made by this model's new_cache()");
  }
  return opt;
}
}  // namespace

Tensor CausalLM::logits(const Tensor& ids, const plugins::BackboneInputs& in) const {
  return (*this)(ids, forward_options(in));
}

Tensor CausalLM::stage_token_nll(const Tensor& input, const Tensor& targets,
                                 const plugins::BackboneInputs& in) const {
  XOMNI_CHECK(is_last_stage(), "qwen2: stage_token_nll runs on the last pipeline stage (layers [",
              first_layer_, ", ", last_layer_, ") of ", cfg_.num_hidden_layers, ")");
  // The whole sequence on every tp rank (gathered under sequence parallelism), as the head sees it.
  const Tensor x = parallel::column_input(hidden_states(input, forward_options(in)), tp_);
  const int64_t n = targets.numel();
  XOMNI_CHECK(x.numel() == n * cfg_.hidden_size, "qwen2: targets ", shape_str(targets.shape()),
              " do not cover the ", x.numel() / cfg_.hidden_size,
              " positions of the hidden states ", shape_str(x.shape()));
  const Tensor flat = reshape(x, {n, cfg_.hidden_size});
  const Tensor ids = reshape(targets, {n});
  const Tensor nll = tp_.size() == 1 ? linear_cross_entropy(flat, head_weight(), ids)
                                     : parallel::vocab_parallel_linear_cross_entropy(
                                           flat, head_weight(), ids, vocab_start(), tp_);
  return reshape(nll, targets.shape());
}

parallel::ModelDims CausalLM::dims() const {
  parallel::ModelDims d;
  d.num_attention_heads = cfg_.num_attention_heads;
  d.num_key_value_heads = cfg_.num_key_value_heads;
  d.vocab_size = cfg_.vocab_size;
  d.intermediate_size = cfg_.intermediate_size;
  d.num_hidden_layers = cfg_.num_hidden_layers;
  return d;
}

double CausalLM::flops_per_token(int64_t seq_len) const {
  // 6 per parameter (forward + backward) plus attention's score and value products: forward
  // 4*T*d per layer (causal: half of them), times 3 for forward + backward.
  double params = 0;
  for (const nn::ParamInfo& p : parameter_infos())
    params += double(shape_numel(p.sharding.global_shape(p.tensor.shape())));
  return 6.0 * params + 12.0 * double(cfg_.num_hidden_layers * cfg_.hidden_size * seq_len) / 2.0;
}

Tensor CausalLM::token_nll(const Tensor& logits, const Tensor& targets) const {
  const int64_t n = targets.numel();
  const Tensor flat = reshape(logits, {n, logits.size(logits.dim() - 1)});
  const Tensor ids = reshape(targets, {n});
  const Tensor nll = tp_.size() == 1
                         ? cross_entropy(flat, ids, -100, Reduction::none)
                         : parallel::vocab_parallel_cross_entropy(flat, ids, vocab_start(), tp_);
  return reshape(nll, targets.shape());
}

std::unique_ptr<plugins::DecodeCache> CausalLM::new_cache(int64_t batch, int64_t capacity) const {
  return std::make_unique<KVCache>(cfg_, batch, capacity);
}

}  // namespace xomni::qwen2
