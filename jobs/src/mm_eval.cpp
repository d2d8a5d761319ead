#include "mm_eval.h"

#include <algorithm>
#include <fstream>

#include "codec/codec_eval.h"
#include "codec/image_grid.h"
#include "mm_eval_parts.h"
#include "mm_prompt.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/world/scene_checker.h"

namespace xomni::cli {
namespace {

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

}  // namespace

nlohmann::json evaluate_mm_model(const MmEvalOptions& o) {
  const EvalModel m = load_eval_model(o.checkpoint, o.multimodal);
  const plugins::ImageTokenizer& T = *m.image_tok.tokenizer;
  const std::vector<Scene> scenes = held_out_scenes(o.dataset, o.count);
  const int64_t h = m.h, w = m.w;
  nlohmann::json out = {{"checkpoint", o.checkpoint},
                        {"dataset", o.dataset},
                        {"scenes", scenes.size()},
                        {"grid", {h, w}}};
  NoGradGuard no_grad;

  if (o.generation) {
    const codec::LoadedDecoder dec = load_eval_decoder(m, o.decoder);
    std::vector<std::string> captions;
    for (const Scene& sc : scenes) captions.push_back(sc.prompt);
    const ImageSet set =
        generate_images(m, *dec.decoder, captions, {o.batch, o.decoder_steps, o.cfg, o.seed});
    Tally by_category;
    int64_t pass = 0;
    std::ofstream per_scene;
    if (!o.out_dir.empty()) per_scene.open(o.out_dir + "/generations.jsonl");
    for (size_t i = 0; i < scenes.size(); ++i) {
      const bool ok = world::score_geneval(set.images[i], scenes[i].sample.metadata_json).pass;
      pass += ok;
      auto& [p, t] = by_category[scenes[i].category];
      p += ok, ++t;
      if (per_scene.is_open())
        per_scene << nlohmann::json{{"scene", i},
                                    {"prompt", scenes[i].prompt},
                                    {"category", scenes[i].category},
                                    {"pass", ok},
                                    {"codes", set.codes[i]}}
                         .dump()
                  << "\n";
    }
    const double tokens = double(scenes.size()) * double(h * w);
    out["generation"] = {
        {"overall", double(pass) / double(scenes.size())},
        {"by_category", tally_json(by_category, "pass")},
        {"cfg", o.cfg},
        {"sampling", "temperature 1, min_p 0.03, top_p 1, no top-k"},
        {"image_tokens_per_s", tokens / std::max(set.sample_s, 1e-9)},
        {"batch", o.batch},
        {"decode_images_per_s", double(scenes.size()) / std::max(set.decode_s, 1e-9)}};
    if (!o.out_dir.empty()) {
      std::vector<Image> first(
          set.images.begin(),
          set.images.begin() + int64_t(std::min<size_t>(set.images.size(), 16)));
      write_png(codec::tile_grid(first), o.out_dir + "/generations.png");
    }
  }

  if (o.understanding) {
    Tally by_type;
    int64_t correct = 0, asked = 0;
    for (const Scene& sc : scenes) {
      const std::vector<int64_t> codes = understanding_codes(T, sc.sample.image, h, w);
      for (const auto& [q, a] : sc.sample.qa) {
        const bool ok = codec::trim_lower(answer_greedily(m, codes, q)) == codec::trim_lower(a);
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
