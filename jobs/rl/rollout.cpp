#include "rl/rollout.h"

#include <cmath>

#include "cli_tokenizer.h"
#include "codec/codec_data.h"
#include "common/stopwatch.h"
#include "mm_prompt.h"
#include "rl/mix64.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::rl {
namespace {

using jobs::Clock;
using jobs::seconds_since;

}  // namespace

std::unique_ptr<RolloutEnv> load_rollout_env(const RlJob& job, const std::string& checkpoint) {
  auto env = std::make_unique<RolloutEnv>();
  env->model = cli::load_model_checkpoint(checkpoint, "");
  XOMNI_CHECK(env->model.is_xomni(), checkpoint, ": not an X-Omni model (backbone ",
              env->model.backbone, ")");
  RolloutSetup& s = env->setup;
  s.info = cli::find_multimodal_info(env->model, checkpoint, job.rl.multimodal);
  cli::check_model_matches(env->model, s.info, checkpoint);
  s.vocab = env->model.vocab;
  env->text_tokenizer = cli::load_tokenizer(s.info.text_tokenizer);
  env->image_tokenizer = codec::load_tokenizer(s.info.image_tokenizer, nullptr);
  const std::string decoder = job.rl.decoder.empty() ? s.info.decoder : job.rl.decoder;
  XOMNI_CHECK(!decoder.empty(), s.info.path,
              " names no decoder: set rl.decoder (a decoder stage checkpoint)");
  env->decoder = codec::load_decoder(decoder, nullptr);
  s.text_tokenizer = env->text_tokenizer.get();
  s.image_tokenizer = env->image_tokenizer.tokenizer.get();
  s.decoder = env->decoder.decoder.get();
  if (job.rl.grid.empty()) {
    XOMNI_CHECK(!s.info.grids.empty(), s.info.path, " lists no token grid; set rl.grid");
    s.grids = s.info.grids;
  } else {
    s.grids = {cli::parse_grid(job.rl.grid, "rl.grid")};
  }
  std::tie(s.grid_h, s.grid_w) = s.grids.front();
  s.sampling.sampling =
      SamplingOptions{job.rl.temperature, job.rl.top_k, job.rl.top_p, job.rl.min_p};
  s.decoder_steps = job.rl.decoder_steps;
  return env;
}

uint64_t group_seed(uint64_t run_seed, int64_t round, int64_t slot) {
  return mix64(mix64(mix64(run_seed) ^ uint64_t(round)) ^ uint64_t(slot));
}

RolloutGroup sample_group(const plugins::Backbone& policy, const RolloutSetup& s,
                          const world::Prompt& prompt, int64_t group_size, uint64_t seed) {
  NoGradGuard no_grad;
  RolloutGroup g;
  std::tie(g.grid_h, g.grid_w) = s.grid_for(prompt);
  const int64_t h = g.grid_h, w = g.grid_w;
  g.prompt_ids = cli::generation_prompt(*s.text_tokenizer, s.info, prompt.text, h, w);
  const int64_t P = int64_t(g.prompt_ids.size());
  Tensor prompts = Tensor::empty({group_size, P}, DType::i64);
  for (int64_t r = 0; r < group_size; ++r)
    std::copy(g.prompt_ids.begin(), g.prompt_ids.end(), prompts.data<int64_t>() + r * P);
  cli::ImageSampling sampling = s.sampling;
  sampling.seed = seed;
  const std::vector<int64_t> uncond = cli::image_prefix_ids(*s.text_tokenizer, s.info, h, w);
  auto t0 = Clock::now();
  g.codes =
      cli::generate_image_codes(policy, s.vocab, prompts, uncond, h * w, sampling).contiguous();
  g.sample_s = seconds_since(t0);
  t0 = Clock::now();
  g.images = codec::tensor_to_images(
      s.decoder->decode(s.image_tokenizer->code_embeddings(g.codes), h, w, seed, s.decoder_steps));
  g.decode_s = seconds_since(t0);
  return g;
}

Tensor code_log_probs(const plugins::Backbone& lm, const cli::MmVocab& vocab,
                      const std::vector<int64_t>& prompt_ids, const Tensor& codes,
                      double temperature, double* entropy_sum) {
  const int64_t G = codes.size(0), L = codes.size(1), P = int64_t(prompt_ids.size());
  XOMNI_CHECK(P >= 1 && L >= 1, "code_log_probs: empty prompt or no codes");
  // The model sees the prompt and every code but the last; position P-1+j predicts code j.
  std::vector<int64_t> ids(size_t(G * (P + L - 1)));
  const Tensor c = codes.to(DType::i64).contiguous();
  for (int64_t r = 0; r < G; ++r) {
    int64_t* row = ids.data() + r * (P + L - 1);
    std::copy(prompt_ids.begin(), prompt_ids.end(), row);
    for (int64_t j = 0; j + 1 < L; ++j) row[P + j] = vocab.text + c.data<int64_t>()[r * L + j];
  }
  plugins::BackboneInputs in;
  in.mode = plugins::LogitMode::training;  // the image columns are mm_head's in every mode
  const Tensor logits = lm.logits(Tensor::from_vector(ids, {G, P + L - 1}), in);
  XOMNI_CHECK(logits.dim() == 3 && logits.size(2) >= vocab.text + vocab.image,
              "code_log_probs: the backbone's logit rows are ", logits.size(-1),
              " wide; the image columns end at ", vocab.text + vocab.image);
  Tensor image = slice(slice(logits, 1, P - 1, P - 1 + L), 2, vocab.text, vocab.text + vocab.image);
  if (temperature != 1.0) image = mul(image, 1.0 / temperature);
  const Tensor logp_all = log_softmax(image, -1);
  if (entropy_sum) {
    NoGradGuard no_grad;
    const Tensor lp = logp_all.detach().to(DType::f64).contiguous();
    const double* p = lp.data<double>();
    double h = 0;
    for (int64_t i = 0; i < lp.numel(); ++i) h -= std::exp(p[i]) * p[i];
    *entropy_sum = h;
  }
  return reshape(gather(logp_all, 2, reshape(c, {G, L, 1})), {G, L});
}

}  // namespace xomni::rl
