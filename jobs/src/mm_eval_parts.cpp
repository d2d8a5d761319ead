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
                         const std::vector<std::string>& captions, const ImageSetOptions& o,
                         const std::vector<Grid>& grids) {
  NoGradGuard no_grad;
  XOMNI_CHECK(grids.empty() || grids.size() == captions.size(), "generate_images: ", grids.size(),
              " grids for ", captions.size(), " prompts");
  ImageSampling sampling;
  sampling.cfg = o.cfg;
  ImageSet out;
  out.grids = grids.empty() ? std::vector<Grid>(captions.size(), Grid{m.h, m.w}) : grids;
  std::vector<std::vector<int64_t>> prompts;
  for (size_t i = 0; i < captions.size(); ++i)
    prompts.push_back(
        generation_prompt(*m.tok, m.info, captions[i], out.grids[i].first, out.grids[i].second));
  std::vector<size_t> order(prompts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto key = [&](size_t i) { return std::make_pair(out.grids[i], prompts[i].size()); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  out.images.resize(prompts.size());
  out.codes.resize(prompts.size());
  for (size_t first = 0; first < order.size();) {
    const size_t len = prompts[order[first]].size();
    const auto [h, w] = out.grids[order[first]];
    size_t n = 0;
    while (first + n < order.size() && n < size_t(o.batch) &&
           key(order[first + n]) == key(order[first]))
      ++n;
    const std::vector<int64_t> uncond = image_prefix_ids(*m.tok, m.info, h, w);
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
                            const std::string& question, Grid grid) {
  NoGradGuard no_grad;
  const SamplingOptions greedy{0.0, 0, 1.0, 0.0};
  if (grid.first == 0) grid = {m.h, m.w};
  const std::vector<int64_t> prompt =
      understanding_prompt(*m.tok, m.info, grid.first, grid.second, codes, question);
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
