#include "codec/codec_eval.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "codec/byte_text.h"
#include "codec/code_information.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "common/stopwatch.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/io/jsonl.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/plugins/reward_set.h"
#include "xomni/world/scene_checker.h"

namespace xomni::codec {
namespace {

using jobs::Clock;
using jobs::seconds_since;

Tensor sample_tensor(const ImageSample& s, int64_t image_size) {
  ImageDataOptions fit;
  fit.image_size = image_size > 0 ? image_size : std::min(s.image.width, s.image.height);
  return images_to_tensor({s}, fit);
}

// The vq stage's adapter and LM, from its checkpoint.
struct AlignmentLm {
  std::unique_ptr<plugins::Adapter> adapter;
  std::unique_ptr<plugins::Backbone> lm;
};

std::optional<AlignmentLm> load_alignment_lm(const std::string& checkpoint) {
  CheckpointReader reader(checkpoint);
  const CodecJob job = checkpoint_job(reader);
  if (job.stage != CodecStage::vq) return std::nullopt;
  AlignmentLm a;
  a.adapter = plugins::create_adapter(
      job.adapter.plugin, component_context(job.adapter, job.trainer.run.seed, nullptr));
  a.lm = plugins::create_backbone(job.lm.plugin,
                                  component_context(job.lm, job.trainer.run.seed, nullptr));
  read_component(reader, "adapter", *a.adapter);
  read_component(reader, "lm", *a.lm);
  return a;
}

// Greedy answer bytes after the codes and the question, up to the end id or 48 bytes.
std::string greedy_answer(const AlignmentLm& a, const Tensor& codes, const std::string& question) {
  std::vector<int64_t> ids = byte_example(question + " ", "", 1 << 20).ids;
  plugins::BackboneInputs in;
  in.prefix_embeddings = a.adapter->forward(codes);
  std::string answer;
  for (int step = 0; step < 48; ++step) {
    Tensor t = Tensor::empty({1, int64_t(ids.size())}, DType::i64);
    std::copy(ids.begin(), ids.end(), t.data<int64_t>());
    const Tensor logits = a.lm->logits(t, in);
    const Tensor last = slice(logits, 1, logits.size(1) - 1, logits.size(1));
    const int64_t next = argmax(reshape(last, {-1}), 0).to(DType::i64).data<int64_t>()[0];
    if (next == kByteEnd || next >= 256) break;
    answer.push_back(char(next));
    ids.push_back(next);
  }
  return answer;
}

}  // namespace

std::string trim_lower(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  s = s.substr(i);
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string question_type(const std::string& q) {
  const size_t a = q.find(' ');
  const size_t b = a == std::string::npos ? a : q.find(' ', a + 1);
  return q.substr(0, b);
}

nlohmann::json evaluate_codec(const CodecEvalOptions& o) {
  NoGradGuard no_grad;
  nlohmann::json out;
  const LoadedTokenizer tok = load_tokenizer(o.tokenizer, nullptr);
  plugins::ImageTokenizer& T = *tok.tokenizer;
  const ImageDataset ds = ImageDataset::open(o.dataset);
  const int64_t n = std::min(o.count, ds.size());
  XOMNI_CHECK(n > 0, o.dataset, ": no samples to evaluate");
  out["dataset"] = o.dataset;
  out["samples"] = n;
  out["tokenizer"] = o.tokenizer;

  std::optional<LoadedDecoder> dec;
  if (!o.decoder.empty()) dec.emplace(load_decoder(o.decoder, nullptr));
  const std::optional<AlignmentLm> aligner = load_alignment_lm(o.tokenizer);
  if (!o.out_dir.empty()) std::filesystem::create_directories(o.out_dir + "/text");
  std::ofstream pairs;
  if (!o.out_dir.empty()) pairs.open(o.out_dir + "/text/pairs.jsonl");

  std::vector<int64_t> histogram(size_t(T.codebook_size()), 0);
  std::map<int64_t, double> sq_err;  // steps -> summed squared error
  double values = 0, encode_s = 0;
  std::map<int64_t, double> decode_s;
  int64_t scenes = 0, scenes_pass = 0, texts = 0;
  // Per GenEval category: scenes, reconstructions that pass, codec inputs that pass (the control:
  // a clean render passes, so this is 1 unless resizing blurred the input).
  std::map<std::string, std::array<int64_t, 3>> checker_by_category;
  std::map<std::string, std::pair<int64_t, int64_t>> vqa;  // type -> (correct, asked)
  CodeInformation carried;                                 // what the codes say about patches
  const int64_t max_steps = o.steps.empty() ? 0 : *std::max_element(o.steps.begin(), o.steps.end());
  for (int64_t i = 0; i < n; ++i) {
    const ImageSample s = ds.get(i);
    const Tensor x = sample_tensor(s, o.image_size);
    const int64_t p = T.patch_size(), gh = x.size(2) / p, gw = x.size(3) / p;
    auto t0 = Clock::now();
    const Tensor ids = T.encode(x).to(DType::i64).contiguous();
    encode_s += seconds_since(t0);
    for (int64_t j = 0; j < ids.numel(); ++j) ++histogram[size_t(ids.data<int64_t>()[j])];
    // A scene's metadata and the image the codec saw, read once for the probes and the checker.
    std::optional<world::SceneMetadata> scene;
    Image input;
    if (s.kind == "scene") {
      scene = world::parse_scene_metadata(s.metadata_json);
      input = tensor_to_images(x)[0];
      carried.add_image(
          std::vector<int64_t>(ids.data<int64_t>(), ids.data<int64_t>() + ids.numel()),
          label_scene_patches(input, *scene, p), /*fit_half=*/i % 2 == 0);
    }
    const Tensor codes = T.code_embeddings(ids);
    if (dec) {
      for (int64_t steps : o.steps) {
        t0 = Clock::now();
        const Tensor y = dec->decoder->decode(codes, gh, gw, o.seed + uint64_t(i), steps);
        decode_s[steps] += seconds_since(t0);
        const Tensor d = sub(y, x);
        sq_err[steps] += sum(mul(d, d)).item();
        if (steps != max_steps) continue;
        const Image recon = tensor_to_images(y)[0];
        if (scene) {
          const bool pass = world::score_geneval(recon, *scene).pass;
          ++scenes;
          scenes_pass += pass;
          std::array<int64_t, 3>& c = checker_by_category[scene->category];
          ++c[0];
          c[1] += pass;
          c[2] += world::score_geneval(input, *scene).pass;
        } else if (s.kind == "text" && pairs.is_open()) {
          ++texts;
          char name[48];
          std::snprintf(name, sizeof name, "%05lld", static_cast<long long>(i));
          const std::string base = o.out_dir + "/text/" + name;
          write_png(tensor_to_images(x)[0], base + "-original.png");
          write_png(recon, base + "-reconstructed.png");
          pairs << nlohmann::json{{"original", base + "-original.png"},
                                  {"reconstructed", base + "-reconstructed.png"},
                                  {"prompt", s.captions.empty() ? "" : s.captions[0]},
                                  {"metadata", s.metadata_json}}
                       .dump()
                << "\n";
        }
      }
      values += double(x.numel());
    }
    if (aligner)
      for (const auto& [q, a] : s.qa) {
        auto& [correct, asked] = vqa[question_type(q)];
        ++asked;
        correct += trim_lower(greedy_answer(*aligner, codes, q)) == trim_lower(a);
      }
  }
  // Codebook use.
  double entropy = 0, total = 0;
  int64_t used = 0;
  for (int64_t c : histogram) total += double(c), used += c > 0;
  for (int64_t c : histogram)
    if (c > 0) entropy -= double(c) / total * std::log(double(c) / total);
  out["codebook"] = {{"size", T.codebook_size()},
                     {"used", used},
                     {"used_fraction", double(used) / double(T.codebook_size())},
                     {"perplexity", std::exp(entropy)}};
  out["code_information"] = carried.summary();
  out["encode_images_per_s"] = double(n) / std::max(encode_s, 1e-9);
  if (dec) {
    nlohmann::json rec = nlohmann::json::object();
    for (int64_t steps : o.steps)
      rec[std::to_string(steps)] = {
          {"psnr_db", 10.0 * std::log10(1.0 / std::max(sq_err[steps] / values, 1e-12))},
          {"decode_images_per_s", double(n) / std::max(decode_s[steps], 1e-9)}};
    out["reconstruction"] = rec;
    const auto rate = [](int64_t hits, int64_t of) { return of ? double(hits) / double(of) : 0.0; };
    nlohmann::json by_category = nlohmann::json::object();
    int64_t inputs_pass = 0;
    for (const auto& [category, c] : checker_by_category) {
      by_category[category] = {{"scenes", c[0]},
                               {"pass", c[1]},
                               {"pass_rate", rate(c[1], c[0])},
                               {"input_pass_rate", rate(c[2], c[0])}};
      inputs_pass += c[2];
    }
    out["scene_checker"] = {{"steps", max_steps},
                            {"scenes", scenes},
                            {"pass", scenes_pass},
                            {"pass_rate", rate(scenes_pass, scenes)},
                            {"input_pass_rate", rate(inputs_pass, scenes)},
                            {"by_category", by_category}};
  }
  if (aligner) {
    int64_t correct = 0, asked = 0;
    nlohmann::json by_type = nlohmann::json::object();
    for (const auto& [type, ca] : vqa) {
      correct += ca.first, asked += ca.second;
      by_type[type] = {{"correct", ca.first}, {"asked", ca.second}};
    }
    out["vqa"] = {{"accuracy", asked ? double(correct) / double(asked) : 0.0},
                  {"asked", asked},
                  {"by_type", by_type}};
  }
  // Caption -> image retrieval among the first retrieval_count samples (longest caption each).
  const int64_t r = std::min(o.retrieval_count, ds.size());
  std::vector<Tensor> img_emb, txt_emb;
  std::set<std::string> distinct;
  for (int64_t first = 0; first < r; first += 32) {
    std::vector<std::string> caps;  // images one at a time: a held-out set may mix sizes
    for (int64_t i = first; i < std::min(r, first + 32); ++i) {
      const ImageSample s = ds.get(i);
      img_emb.push_back(T.image_embeddings(sample_tensor(s, o.image_size)));
      XOMNI_CHECK(!s.captions.empty(), o.dataset, ": sample ", i, " has no caption");
      caps.push_back(longest_caption(s.captions));
      distinct.insert(caps.back());
    }
    txt_emb.push_back(T.text_embeddings(caps));
  }
  const Tensor sim = matmul(cat(txt_emb, 0), transpose(cat(img_emb, 0), 0, 1));  // [r, r]
  const Tensor best = argmax(sim, 1).to(DType::i64).contiguous();
  int64_t hits = 0;
  for (int64_t i = 0; i < r; ++i) hits += best.data<int64_t>()[i] == i;
  out["retrieval"] = {{"pairs", r},
                      {"top1", double(hits) / double(std::max<int64_t>(r, 1))},
                      {"distinct_captions", int64_t(distinct.size())}};
  pairs.close();
  if (texts > 0 && !o.ocr_command.empty()) {
    const std::string cmd = o.ocr_command + " > " + o.out_dir + "/text/ocr.json";
    XOMNI_CHECK(std::system(cmd.c_str()) == 0, "the OCR pass failed: ", cmd);
    std::ifstream in(o.out_dir + "/text/ocr.json");
    out["ocr"] = nlohmann::json::parse(in);
  }
  return out;
}

nlohmann::json ocr_word_accuracy(const std::string& dir) {
  const plugins::RewardSet ocr({plugins::RewardSpec{"ocr", "ocr", 1.0, "psm = 7", {}}});
  double orig = 0, recon = 0;
  int64_t n = 0;
  for_each_jsonl_line(
      dir + "/text/pairs.jsonl", "OCR pairs", [&](const std::string& line, int64_t) {
        const nlohmann::json j = nlohmann::json::parse(line);
        const std::string prompt = j["prompt"], meta = j["metadata"];
        for (int which = 0; which < 2; ++which) {
          const Image im = read_image(j[which ? "reconstructed" : "original"].get<std::string>());
          const XomniImage view{im.rgb.data(), int32_t(im.width), int32_t(im.height),
                                int64_t(im.width) * 3};
          const plugins::RewardScores s = ocr.score({view}, {prompt}, {meta});
          const auto wac =
              std::find(s.sub_score_names.begin(), s.sub_score_names.end(), "ocr.word_accuracy");
          XOMNI_CHECK(wac != s.sub_score_names.end(), "the ocr reward reports no word_accuracy");
          (which ? recon : orig) += double(s.sub_scores[size_t(wac - s.sub_score_names.begin())]);
        }
        ++n;
      });
  const double o = n ? orig / double(n) : 0, r = n ? recon / double(n) : 0;
  return {{"images", n},
          {"word_accuracy_original", o},
          {"word_accuracy_reconstructed", r},
          {"ratio", o > 0 ? r / o : 0.0}};
}

}  // namespace xomni::codec
