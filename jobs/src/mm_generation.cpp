// Image-code and text decoding loops over plugins::Backbone (see mm_generation.h).
#include "mm_generation.h"

#include <algorithm>
#include <memory>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

// N token sequences decoded together: with a cache only the ids not yet seen are fed, without
// one the whole sequence is run again at every step.
class Streams {
 public:
  Streams(const plugins::Backbone& lm, std::vector<std::vector<int64_t>> rows, bool use_cache,
          int64_t capacity)
      : lm_(lm), rows_(std::move(rows)) {
    if (use_cache) cache_ = lm.new_cache(int64_t(rows_.size()), capacity);
  }

  // The last position's logits over columns [lo, hi) after feeding what is pending: [N, hi - lo].
  Tensor next_logits(plugins::LogitMode mode, int64_t lo, int64_t hi) {
    const int64_t N = int64_t(rows_.size());
    const int64_t from = cache_ ? fed_ : 0, T = int64_t(rows_[0].size()) - from;
    std::vector<int64_t> flat;
    flat.reserve(size_t(N * T));
    for (const std::vector<int64_t>& r : rows_) flat.insert(flat.end(), r.begin() + from, r.end());
    plugins::BackboneInputs in;
    in.cache = cache_.get();
    in.mode = mode;
    const Tensor logits = lm_.logits(Tensor::from_vector(flat, {N, T}), in);
    fed_ = int64_t(rows_[0].size());
    XOMNI_CHECK(lm_.vocab_start() == 0 && logits.dim() == 3 && logits.size(2) >= hi,
                "generation: the backbone's logit rows are ",
                logits.dim() == 3 ? logits.size(2) : -1, " wide from column ", lm_.vocab_start(),
                "; the vocabulary split needs columns [", lo, ", ", hi,
                ") (is the model's text/image vocabulary what its config says?)");
    Tensor last = slice(slice(logits, 1, T - 1, T), 2, lo, hi);
    last = reshape(last.contiguous(), {N, hi - lo});
    return last.dtype() == DType::f32 || last.dtype() == DType::f64 ? last : last.to(DType::f32);
  }

  void append(const std::vector<int64_t>& ids) {
    for (size_t i = 0; i < rows_.size(); ++i) rows_[i].push_back(ids[i]);
  }

 private:
  const plugins::Backbone& lm_;
  std::vector<std::vector<int64_t>> rows_;
  std::unique_ptr<plugins::DecodeCache> cache_;
  int64_t fed_ = 0;
};

void check_ids(const std::vector<int64_t>& ids, const MmVocab& vocab, const char* what) {
  for (size_t i = 0; i < ids.size(); ++i)
    XOMNI_CHECK(ids[i] >= 0 && ids[i] < vocab.text + vocab.image, what, ": token ", i, " is id ",
                ids[i], ", outside the model's vocabulary [0, ", vocab.text + vocab.image,
                ") (text [0, ", vocab.text, "), image codes [", vocab.text, ", ",
                vocab.text + vocab.image, "))");
}

}  // namespace

Tensor generate_image_codes(const plugins::Backbone& lm, const MmVocab& vocab,
                            const Tensor& prompts, const std::vector<int64_t>& uncond_prompt,
                            int64_t count, const ImageSampling& options, bool use_cache) {
  XOMNI_CHECK(vocab.text > 0 && vocab.image > 0,
              "image generation: the model has no image vocabulary (text ", vocab.text, ", image ",
              vocab.image, " ids)");
  XOMNI_CHECK(prompts.defined() && prompts.dim() == 2 && prompts.size(0) >= 1 &&
                  prompts.size(1) >= 1 && prompts.dtype() == DType::i64,
              "image generation: the prompts must be i64 [N, P] with N, P >= 1");
  XOMNI_CHECK(count >= 0, "image generation: the code count must be >= 0, got ", count);
  const bool guided = options.cfg != 1.0;
  XOMNI_CHECK(!guided || !uncond_prompt.empty(), "image generation: guidance (cfg ", options.cfg,
              ") needs the unconditional prompt (the image prefix <SOM>{h} {w}<IMAGE>)");
  NoGradGuard no_grad;
  const int64_t N = prompts.size(0), P = prompts.size(1);
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(N));
  const std::vector<int64_t> flat = prompts.contiguous().to_vector<int64_t>();
  for (int64_t i = 0; i < N; ++i) {
    rows[size_t(i)].assign(flat.begin() + i * P, flat.begin() + (i + 1) * P);
    check_ids(rows[size_t(i)], vocab, "image generation prompt");
  }
  check_ids(uncond_prompt, vocab, "image generation unconditional prompt");
  Tensor codes = Tensor::empty({N, count}, DType::i64);
  if (count == 0) return codes;
  // The last sampled code is never fed back: the sequences hold at most P + count - 1 tokens.
  Streams cond(lm, std::move(rows), use_cache, P + count - 1);
  std::unique_ptr<Streams> uncond;
  if (guided)
    uncond =
        std::make_unique<Streams>(lm, std::vector<std::vector<int64_t>>(size_t(N), uncond_prompt),
                                  use_cache, int64_t(uncond_prompt.size()) + count - 1);
  // Row i draws from its own stream (seed + i): sample i does not depend on how many are drawn.
  std::vector<Generator> gens;
  for (int64_t i = 0; i < N; ++i) gens.emplace_back(options.seed + uint64_t(i));
  int64_t* out = codes.data<int64_t>();
  const int64_t lo = vocab.text, hi = vocab.text + vocab.image;
  for (int64_t s = 0; s < count; ++s) {
    Tensor x = cond.next_logits(plugins::LogitMode::image, lo, hi);
    if (uncond)
      x = cfg_combine(x, uncond->next_logits(plugins::LogitMode::image, lo, hi), options.cfg);
    std::vector<int64_t> ids(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
      const Tensor row = slice(x, 0, i, i + 1);
      const int64_t k = sample(row, options.sampling, gens[size_t(i)]).to_vector<int64_t>()[0];
      out[i * count + s] = k;
      ids[size_t(i)] = vocab.text + k;
    }
    if (s + 1 == count) break;
    cond.append(ids);
    if (uncond) uncond->append(ids);
  }
  return codes;
}

std::vector<int64_t> generate_text(const plugins::Backbone& lm, const MmVocab& vocab,
                                   const std::vector<int64_t>& prompt, int64_t max_tokens,
                                   const std::vector<int64_t>& stop_ids,
                                   const SamplingOptions& sampling, uint64_t seed) {
  XOMNI_CHECK(vocab.text > 0, "text generation: the model has no text vocabulary");
  XOMNI_CHECK(!prompt.empty(), "text generation: the prompt holds no tokens");
  XOMNI_CHECK(max_tokens >= 0, "text generation: max_tokens must be >= 0, got ", max_tokens);
  check_ids(prompt, vocab, "text generation prompt");
  NoGradGuard no_grad;
  std::vector<int64_t> out;
  if (max_tokens == 0) return out;
  Streams stream(lm, {prompt}, /*use_cache=*/true, int64_t(prompt.size()) + max_tokens - 1);
  Generator gen(seed);
  for (int64_t s = 0; s < max_tokens; ++s) {
    const Tensor x = stream.next_logits(plugins::LogitMode::text, 0, vocab.text);
    const int64_t next = sample(x, sampling, gen).to_vector<int64_t>()[0];
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    out.push_back(next);
    if (s + 1 < max_tokens) stream.append({next});
  }
  return out;
}

}  // namespace xomni::cli
