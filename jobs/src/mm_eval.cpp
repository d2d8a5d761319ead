#include "mm_eval.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_eval.h"
#include "codec/image_grid.h"
#include "common/stopwatch.h"
#include "mm_generation.h"
#include "mm_model.h"
#include "mm_prompt.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/world/scene_checker.h"

namespace xomni::cli {
namespace {

using jobs::Clock;
using jobs::seconds_since;

// A scene to evaluate: its image, prompt, metadata and questions.
struct Scene {
  ImageSample sample;
  std::string prompt, category;
};

std::vector<Scene> held_out_scenes(const std::string& dir, int64_t count) {
  const ImageDataset ds = ImageDataset::open(dir);
  std::vector<Scene> out;
  for (int64_t i = 0; i < ds.size() && int64_t(out.size()) < count; ++i) {
    ImageSample s = ds.get(i);
    if (s.kind != "scene") continue;
    const nlohmann::json m = nlohmann::json::parse(s.metadata_json);
    Scene sc;
    sc.prompt = m.value("prompt", s.captions.empty() ? std::string() : s.captions.front());
    sc.category = m.value("category", std::string("scene"));
    sc.sample = std::move(s);
    if (!sc.prompt.empty()) out.push_back(std::move(sc));
  }
  XOMNI_CHECK(!out.empty(), dir, ": no scene with a prompt to evaluate");
  return out;
}

// Pass/total counters by name.
using Tally = std::map<std::string, std::pair<int64_t, int64_t>>;
nlohmann::json tally_json(const Tally& t, const char* hits) {
  nlohmann::json by = nlohmann::json::object();
  for (const auto& [name, ct] : t)
    by[name] = {{hits, ct.first},
                {"total", ct.second},
                {"rate", ct.second ? double(ct.first) / double(ct.second) : 0.0}};
  return by;
}

}  // namespace

nlohmann::json evaluate_mm_model(const MmEvalOptions& o) {
  const MmModel model = load_model_checkpoint(o.checkpoint, "");
  XOMNI_CHECK(model.is_xomni(), o.checkpoint, ": not an X-Omni model (backbone ", model.backbone,
              ")");
  const MultimodalInfo info = find_multimodal_info(model, o.checkpoint, o.multimodal);
  check_model_matches(model, info, o.checkpoint);
  XOMNI_CHECK(!info.grids.empty(), info.path, ": lists no token grid");
  const auto tok = load_tokenizer(info.text_tokenizer);
  const codec::LoadedTokenizer image_tok = codec::load_tokenizer(info.image_tokenizer, nullptr);
  const plugins::ImageTokenizer& T = *image_tok.tokenizer;
  const std::vector<Scene> scenes = held_out_scenes(o.dataset, o.count);
  const auto [h, w] = info.grids.front();
  nlohmann::json out = {{"checkpoint", o.checkpoint},
                        {"dataset", o.dataset},
                        {"scenes", scenes.size()},
                        {"grid", {h, w}}};
  NoGradGuard no_grad;

  if (o.generation) {
    const std::string decoder_path = o.decoder.empty() ? info.decoder : o.decoder;
    XOMNI_CHECK(!decoder_path.empty(), info.path,
                " names no decoder: pass --decoder CKPT (a decoder stage checkpoint)");
    const codec::LoadedDecoder dec = codec::load_decoder(decoder_path, nullptr);
    ImageSampling sampling;
    sampling.cfg = o.cfg;
    const std::vector<int64_t> uncond = image_prefix_ids(*tok, info, h, w);
    // Prompts of equal token length are sampled together: scenes in order of prompt length, and
    // the scene at position k of that order draws its codes with seed + k and its decoder noise
    // with seed + k, so no result depends on the batch size.
    std::vector<std::vector<int64_t>> prompts;
    for (const Scene& sc : scenes)
      prompts.push_back(generation_prompt(*tok, info, sc.prompt, h, w));
    std::vector<size_t> order(scenes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return prompts[a].size() < prompts[b].size(); });
    std::vector<Image> images(scenes.size());
    std::vector<std::vector<int64_t>> codes_of(scenes.size());
    double sample_s = 0, decode_s = 0;
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
          generate_image_codes(*model.lm, model.vocab, batch, uncond, h * w, sampling).contiguous();
      sample_s += seconds_since(t0);
      for (size_t r = 0; r < n; ++r) {
        const size_t i = order[first + r];
        const int64_t* row = codes.data<int64_t>() + r * h * w;
        codes_of[i].assign(row, row + h * w);
        t0 = Clock::now();
        const Tensor one = Tensor::from_vector(codes_of[i], {1, h * w});
        images[i] = codec::tensor_to_images(dec.decoder->decode(
            T.code_embeddings(one), h, w, o.seed + first + r, o.decoder_steps))[0];
        decode_s += seconds_since(t0);
      }
      first += n;
    }
    Tally by_category;
    int64_t pass = 0;
    std::ofstream per_scene;
    if (!o.out_dir.empty()) per_scene.open(o.out_dir + "/generations.jsonl");
    for (size_t i = 0; i < scenes.size(); ++i) {
      const bool ok = world::score_geneval(images[i], scenes[i].sample.metadata_json).pass;
      pass += ok;
      auto& [p, t] = by_category[scenes[i].category];
      p += ok, ++t;
      if (per_scene.is_open())
        per_scene << nlohmann::json{{"scene", i},
                                    {"prompt", scenes[i].prompt},
                                    {"category", scenes[i].category},
                                    {"pass", ok},
                                    {"codes", codes_of[i]}}
                         .dump()
                  << "\n";
    }
    const double tokens = double(scenes.size()) * double(h * w);
    out["generation"] = {{"overall", double(pass) / double(scenes.size())},
                         {"by_category", tally_json(by_category, "pass")},
                         {"cfg", o.cfg},
                         {"sampling", "temperature 1, min_p 0.03, top_p 1, no top-k"},
                         {"image_tokens_per_s", tokens / std::max(sample_s, 1e-9)},
                         {"batch", o.batch},
                         {"decode_images_per_s", double(scenes.size()) / std::max(decode_s, 1e-9)}};
    if (!o.out_dir.empty()) {
      std::vector<Image> first(images.begin(),
                               images.begin() + int64_t(std::min<size_t>(images.size(), 16)));
      write_png(codec::tile_grid(first), o.out_dir + "/generations.png");
    }
  }

  if (o.understanding) {
    Tally by_type;
    int64_t correct = 0, asked = 0;
    const SamplingOptions greedy{0.0, 0, 1.0, 0.0};
    for (const Scene& sc : scenes) {
      const std::vector<int64_t> codes = understanding_codes(T, sc.sample.image, h, w);
      for (const auto& [q, a] : sc.sample.qa) {
        const std::vector<int64_t> prompt = understanding_prompt(*tok, info, h, w, codes, q);
        const std::vector<int64_t> answer =
            generate_text(*model.lm, model.vocab, prompt, 16, {info.eos, info.eom}, greedy, 0);
        const bool ok =
            codec::trim_lower(tok->decode(answer, /*skip_special=*/true)) == codec::trim_lower(a);
        correct += ok, ++asked;
        auto& [c, t] = by_type[codec::question_type(q)];
        c += ok, ++t;
      }
    }
    out["understanding"] = {{"vqa_accuracy", asked ? double(correct) / double(asked) : 0.0},
                            {"asked", asked},
                            {"by_type", tally_json(by_type, "correct")}};
  }
  return out;
}

}  // namespace xomni::cli
