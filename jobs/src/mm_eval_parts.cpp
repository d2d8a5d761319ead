// The pieces the X-Omni evaluations share (mm_eval_parts.h).
#include "mm_eval_parts.h"

#include <algorithm>

#include "cli_tokenizer.h"
#include "codec/codec_data.h"
#include "common/stopwatch.h"
#include "mm_generation.h"
#include "mm_prompt.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {

using jobs::Clock;
using jobs::seconds_since;

EvalModel load_eval_model(const std::string& checkpoint, const std::string& multimodal) {
  EvalModel m;
  m.model = load_model_checkpoint(checkpoint, "");
  XOMNI_CHECK(m.model.is_xomni(), checkpoint, ": not an X-Omni model (backbone ", m.model.backbone,
              ")");
  m.info = find_multimodal_info(m.model, checkpoint, multimodal);
  check_model_matches(m.model, m.info, checkpoint);
  XOMNI_CHECK(!m.info.grids.empty(), m.info.path, ": lists no token grid");
  m.tok = load_tokenizer(m.info.text_tokenizer);
  m.image_tok = codec::load_tokenizer(m.info.image_tokenizer, nullptr);
  std::tie(m.h, m.w) = m.info.grids.front();
  return m;
}

codec::LoadedDecoder load_eval_decoder(const EvalModel& m, const std::string& path) {
  const std::string decoder_path = path.empty() ? m.info.decoder : path;
  XOMNI_CHECK(!decoder_path.empty(), m.info.path,
              " names no decoder: pass --decoder CKPT (a decoder stage checkpoint)");
  return codec::load_decoder(decoder_path, nullptr);
}

ImageSet generate_images(const EvalModel& m, const plugins::DiffusionDecoder& decoder,
                         const std::vector<std::string>& captions, const ImageSetOptions& o) {
  NoGradGuard no_grad;
  const int64_t h = m.h, w = m.w;
  ImageSampling sampling;
  sampling.cfg = o.cfg;
  const std::vector<int64_t> uncond = image_prefix_ids(*m.tok, m.info, h, w);
  std::vector<std::vector<int64_t>> prompts;
  for (const std::string& c : captions)
    prompts.push_back(generation_prompt(*m.tok, m.info, c, h, w));
  std::vector<size_t> order(prompts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prompts[a].size() < prompts[b].size(); });
  ImageSet out;
  out.images.resize(prompts.size());
  out.codes.resize(prompts.size());
  for (size_t first = 0; first < order.size();) {
    const size_t len = prompts[order[first]].size();
    size_t n = 0;
    while (first + n < order.size() && n < size_t(o.batch) &&
           prompts[order[first + n]].size() == len)
      ++n;
    Tensor batch = Tensor::empty({int64_t(n), int64_t(len)}, DType::i64);
    for (size_t r = 0; r < n; ++r)
      std::copy(prompts[order[first + r]].begin(), prompts[order[first + r]].end(),
                batch.data<int64_t>() + r * len);
    sampling.seed = o.seed + first;
    auto t0 = Clock::now();
    const Tensor codes =
        generate_image_codes(*m.model.lm, m.model.vocab, batch, uncond, h * w, sampling)
            .contiguous();
    out.sample_s += seconds_since(t0);
    for (size_t r = 0; r < n; ++r) {
      const size_t i = order[first + r];
      const int64_t* row = codes.data<int64_t>() + r * h * w;
      out.codes[i].assign(row, row + h * w);
      t0 = Clock::now();
      const Tensor one = Tensor::from_vector(out.codes[i], {1, h * w});
      out.images[i] =
          codec::tensor_to_images(decoder.decode(m.image_tok.tokenizer->code_embeddings(one), h, w,
                                                 o.seed + first + r, o.decoder_steps))[0];
      out.decode_s += seconds_since(t0);
    }
    first += n;
  }
  return out;
}

std::string answer_greedily(const EvalModel& m, const std::vector<int64_t>& codes,
                            const std::string& question) {
  NoGradGuard no_grad;
  const SamplingOptions greedy{0.0, 0, 1.0, 0.0};
  const std::vector<int64_t> prompt =
      understanding_prompt(*m.tok, m.info, m.h, m.w, codes, question);
  const std::vector<int64_t> answer =
      generate_text(*m.model.lm, m.model.vocab, prompt, 16, {m.info.eos, m.info.eom}, greedy, 0);
  return m.tok->decode(answer, /*skip_special=*/true);
}

nlohmann::json tally_json(const Tally& t, const char* hits) {
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [name, ct] : t)
    by[name] = {{hits, ct.first},
                {"total", ct.second},
                {"rate", ct.second ? double(ct.first) / double(ct.second) : 0.0}};
  return by;
}

}  // namespace xomni::cli
