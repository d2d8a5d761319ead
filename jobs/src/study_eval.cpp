// xomni eval: prompt files scored with the paper's metrics (study_eval.h).
#include "study_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>

#include "codec/codec_eval.h"
#include "common/sha256.h"
#include "common/stopwatch.h"
#include "mm_eval_parts.h"
#include "mm_prompt.h"
#include "rl/reward_pool.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/io/jsonl.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/world/prompt_file.h"
#include "xomni/world/scene.h"
#include "xomni/world/scene_checker.h"
#include "xomni/world/text_image.h"

namespace xomni::cli {
namespace {

namespace fs = std::filesystem;
using jobs::Clock;
using jobs::seconds_since;

// A prompt to score, with where it came from.
struct EvalPrompt {
  world::Prompt prompt;
  std::string set;    // the prompt's "set", or its file's name without .jsonl when it has none
  int64_t index;      // its position among the scored prompts of its set (the PNG's name)
  int64_t line;       // its line in the file
  std::string dir;    // its file's folder (a VQA image path is taken from there)
  bool seen = false;  // its text is a caption of a --seen dataset
  bool long_text() const { return prompt.category == "long"; }
};

std::string format_cfg(double g) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", g);
  return buf;
}

// What scoring needs beyond parse_prompt_line's checks, so a bad line is refused with its line
// number instead of failing the whole evaluation later.
void check_scoreable(const world::Prompt& p, const std::string& where) {
  const nlohmann::json meta = nlohmann::json::parse(p.metadata_json);
  if (p.task == "scene") {
    try {
      world::parse_scene_metadata(p.metadata_json);
    } catch (const Error& e) {
      throw Error(where + ": the scene metadata cannot be checked: " + e.what());
    }
  } else if (p.task == "text") {
    const bool has_text =
        meta.contains("text") && (meta["text"].is_string() || meta["text"].is_array());
    XOMNI_CHECK(
        has_text || p.text.find('"') != std::string::npos, where,
        ": a text prompt needs metadata \"text\" or its text in double quotes in the prompt");
  } else {
    const nlohmann::json& im = meta["image"];
    if (im.contains("path")) {
      XOMNI_CHECK(im["path"].is_string(), where, ": metadata image \"path\" is not a string");
      return;
    }
    const std::string gen = im.value("generator", "");
    XOMNI_CHECK(gen == "scene" || gen == "text", where,
                ": metadata \"image\" needs a \"path\" or a \"generator\" (scene or text), got '",
                gen, "'");
    XOMNI_CHECK(im.contains("seed") && im["seed"].is_number_unsigned() && im.contains("index") &&
                    im["index"].is_number_integer(),
                where, ": metadata \"image\" needs a non-negative integer \"seed\" and \"index\"");
    const char* variant = gen == "scene" ? "category" : "bucket";
    XOMNI_CHECK(im.contains(variant) && im[variant].is_string(), where, ": a ", gen,
                " image needs a string \"", variant, "\"");
  }
}

// Every prompt file read line by line: bad lines are printed and listed in the file's entry; of
// the good ones, `count` spread evenly over the file (the k-th of n at position k * good / n) are
// kept, so a subset of a file sorted by category still holds every category.
std::vector<EvalPrompt> read_prompts(const StudyEvalOptions& o, nlohmann::json& files) {
  std::vector<EvalPrompt> out;
  std::map<std::string, int64_t> next_index;
  files = nlohmann::json::array();
  for (const std::string& path : o.prompt_files) {
    XOMNI_CHECK(fs::is_regular_file(path), "--prompts ", path, " is not a file");
    nlohmann::json errors = nlohmann::json::array();
    int64_t lines = 0;
    std::vector<EvalPrompt> good;
    const std::string stem = fs::path(path).stem().string();
    for_each_jsonl_line(path, "prompt", [&](const std::string& line, int64_t line_no) {
      ++lines;
      const std::string where = path + " line " + std::to_string(line_no);
      try {
        world::Prompt p = world::parse_prompt_line(line, where);
        check_scoreable(p, where);
        const std::string set = p.set.empty() ? stem : p.set;
        good.push_back({std::move(p), set, 0, line_no, fs::path(path).parent_path().string()});
      } catch (const Error& e) {
        std::fprintf(stderr, "xomni eval: skipped %s\n", e.what());
        errors.push_back({{"line", line_no}, {"error", e.what()}});
      }
    });
    const size_t n = o.count > 0 ? std::min(good.size(), size_t(o.count)) : good.size();
    for (size_t k = 0; k < n; ++k) {
      EvalPrompt& p = good[k * good.size() / n];
      p.index = next_index[p.set]++;
      out.push_back(std::move(p));
    }
    files.push_back({{"path", path},
                     {"sha256", jobs::sha256_file_hex(path)},
                     {"lines", lines},
                     {"scored", n},
                     {"errors", errors}});
  }
  return out;
}

// Marks the prompts whose exact text is a caption of a --seen dataset.
void mark_seen(const std::vector<std::string>& datasets, std::vector<EvalPrompt>& prompts) {
  std::unordered_set<std::string> captions;
  for (const std::string& dir : datasets) {
    const ImageDataset ds = ImageDataset::open(dir);
    for (int64_t i = 0; i < ds.size(); ++i)
      for (std::string& c : ds.get(i).captions) captions.insert(std::move(c));
  }
  for (EvalPrompt& p : prompts) p.seen = captions.count(p.prompt.text) > 0;
}

// The image a VQA prompt asks about: its file, or the world generator's sample it names.
Image vqa_image(const EvalPrompt& p) {
  const nlohmann::json image = nlohmann::json::parse(p.prompt.metadata_json)["image"];
  if (image.contains("path")) {
    fs::path file = image["path"].get<std::string>();
    if (file.is_relative()) file = fs::path(p.dir) / file;
    return read_image(file.string());
  }
  const uint64_t seed = image["seed"].get<uint64_t>();
  const int64_t index = image["index"].get<int64_t>();
  const bool sized =
      image.contains("size") && image["size"].is_array() && image["size"].size() == 2;
  if (image["generator"] == "scene") {
    world::SceneOptions so;
    if (sized) so.size = image["size"][0].get<int64_t>();
    return world::generate_scene(seed, index, image["category"].get<std::string>(), so).image;
  }
  world::TextImageOptions to;
  to.bucket = image["bucket"].get<std::string>();
  if (sized)
    to.width = image["size"][0].get<int64_t>(), to.height = image["size"][1].get<int64_t>();
  return world::generate_text_image(seed, index, to).image;
}

// The `ocr` reward in worker processes (OMP_THREAD_LIMIT=1), configured by a rewards file in the
// output folder: one line of text (psm 7) for the short bucket, a block (psm 6) for long text;
// M = 100, OneIG-Bench's constant, so the per-sample text score is the benchmark's.
std::unique_ptr<rl::RewardPool> ocr_pool(const StudyEvalOptions& o, const std::string& bucket) {
  const std::string file = o.out_dir + "/rewards_ocr_" + bucket + ".toml";
  std::ofstream(file) << "# the text reader of xomni eval's " << bucket << " text prompts\n"
                      << "[[rewards]]\nplugin = \"ocr\"\nlabel = \"ocr\"\nconfig = \"psm = "
                      << (bucket == "long" ? 6 : 7) << "\\nmax_edit_distance = 100\"\n";
  return std::make_unique<rl::RewardPool>(rl::RewardPoolOptions{file, o.workers, o.worker_exe});
}

// OCR sub-scores of one text sample, under results.json's names.
struct TextScore {
  double ed = 0, cr = 0, wac = 0, oneig = 0, longtext = 0;
};

std::vector<TextScore> text_scores(const plugins::RewardScores& s) {
  const auto col = [&](const char* name) {
    const auto it = std::find(s.sub_score_names.begin(), s.sub_score_names.end(), name);
    XOMNI_CHECK(it != s.sub_score_names.end(), "the ocr reward reports no ", name);
    return size_t(it - s.sub_score_names.begin());
  };
  const size_t k = s.sub_score_names.size(), ed = col("ocr.edit_distance"),
               cr = col("ocr.completion_rate"), wac = col("ocr.word_accuracy"),
               one = col("ocr.oneig_text_score"), lt = col("ocr.longtext_accuracy");
  std::vector<TextScore> out(s.scores.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const float* row = s.sub_scores.data() + i * k;
    out[i] = {row[ed], row[cr], row[wac], row[one], row[lt]};
  }
  return out;
}

// OneIG-Bench's text score over a set: 1 - min(M, mean ED) (1 - mean CR) (1 - mean WAC) / M,
// M = 100.
nlohmann::json short_text_json(const std::vector<TextScore>& s) {
  double ed = 0, cr = 0, wac = 0;
  for (const TextScore& t : s) ed += t.ed, cr += t.cr, wac += t.wac;
  const double n = double(std::max<size_t>(s.size(), 1));
  ed /= n, cr /= n, wac /= n;
  return {{"total", s.size()},
          {"ed", ed},
          {"cr", cr},
          {"wac", wac},
          {"oneig_score", 1.0 - std::min(100.0, ed) * (1.0 - cr) * (1.0 - wac) / 100.0}};
}

nlohmann::json long_text_json(const std::vector<TextScore>& s) {
  double acc = 0;
  for (const TextScore& t : s) acc += t.longtext;
  return {{"total", s.size()}, {"longtext_accuracy", s.empty() ? 0.0 : acc / double(s.size())}};
}

// The generation prompts at one guidance scale: images written, scenes checked, text queued for
// OCR and collected by finish().
class CfgRun {
 public:
  CfgRun(const StudyEvalOptions& o, const EvalModel& m, const plugins::DiffusionDecoder& decoder,
         const std::vector<const EvalPrompt*>& prompts, double g,
         std::map<std::string, std::unique_ptr<rl::RewardPool>>& ocr)
      : prompts_(prompts), g_(g), key_(format_cfg(g)) {
    std::vector<std::string> captions;
    std::vector<Grid> grids;
    for (const EvalPrompt* p : prompts) {
      captions.push_back(p->prompt.text);
      grids.push_back(m.grid_for(world::image_aspect(p->prompt)));
      tokens_ += double(grids.back().first * grids.back().second);
    }
    set_ = generate_images(m, decoder, captions, {o.batch, o.decoder_steps, g, o.seed}, grids);
    const std::string dir = "samples/cfg-" + key_;
    fs::create_directories(o.out_dir + "/" + dir);
    // Text first, so the OCR workers read while this process checks scenes and writes PNGs.
    for (const std::string bucket : {"short", "long"}) {
      std::vector<Image> images;
      std::vector<std::string> texts, metas;
      for (size_t i = 0; i < prompts.size(); ++i)
        if (prompts[i]->prompt.task == "text" && (bucket == "long") == prompts[i]->long_text()) {
          images.push_back(set_.images[i]);
          texts.push_back(prompts[i]->prompt.text);
          metas.push_back(prompts[i]->prompt.metadata_json);
        }
      if (images.empty()) continue;
      auto& pool = ocr[bucket];
      if (!pool) pool = ocr_pool(o, bucket);
      tickets_[bucket] = {pool.get(),
                          pool->submit(std::move(images), std::move(texts), std::move(metas))};
    }
    pass_.assign(prompts.size(), false);
    clean_.assign(prompts.size(), 0.0);
    png_.resize(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      const EvalPrompt& p = *prompts[i];
      png_[i] = dir + "/" + p.set + "-" + std::to_string(p.index) + ".png";
      write_png(set_.images[i], o.out_dir + "/" + png_[i]);
      if (p.prompt.task == "scene") {
        const world::SceneMetadata meta = world::parse_scene_metadata(p.prompt.metadata_json);
        const world::GenEvalResult r = world::score_geneval(set_.images[i], meta);
        pass_[i] = r.pass;
        clean_[i] = world::geneval_clean_fraction(set_.images[i], r, meta);
      }
    }
    set_.images.clear();
  }

  // Collects the OCR scores, writes samples.jsonl and returns results.json's entry for this scale.
  nlohmann::json finish(const std::string& out_dir) {
    std::vector<std::optional<TextScore>> text(prompts_.size());
    for (auto& [bucket, ticket] : tickets_) {
      const std::vector<TextScore> s = text_scores(ticket.first->wait(ticket.second));
      size_t next = 0;
      for (size_t i = 0; i < prompts_.size(); ++i)
        if (prompts_[i]->prompt.task == "text" && (bucket == "long") == prompts_[i]->long_text())
          text[i] = s.at(next++);
    }
    Tally by_category, by_set;
    int64_t pass = 0, scenes = 0, unseen_pass = 0, unseen = 0;
    double clean_sum = 0;
    std::vector<TextScore> short_all, long_all;
    std::map<std::string, std::pair<std::vector<TextScore>, std::vector<TextScore>>> text_by_set;
    std::ofstream samples(out_dir + "/samples/cfg-" + key_ + "/samples.jsonl");
    for (size_t i = 0; i < prompts_.size(); ++i) {
      const EvalPrompt& p = *prompts_[i];
      nlohmann::json line = {{"set", p.set},
                             {"index", p.index},
                             {"task", p.prompt.task},
                             {"category", p.prompt.category},
                             {"prompt", p.prompt.text},
                             {"png", png_[i]},
                             {"line", p.line},
                             {"seen", p.seen},
                             {"cfg", g_},
                             {"grid", {set_.grids[i].first, set_.grids[i].second}}};
      if (p.prompt.task == "scene") {
        const bool ok = pass_[i];
        pass += ok, ++scenes;
        clean_sum += clean_[i];
        if (!p.seen) unseen_pass += ok, ++unseen;
        auto& [c, t] = by_category[p.prompt.category];
        c += ok, ++t;
        auto& [sc, st] = by_set[p.set];
        sc += ok, ++st;
        line["pass"] = ok;
        line["clean"] = clean_[i];
      } else {
        const TextScore& t = *text[i];
        (p.long_text() ? long_all : short_all).push_back(t);
        auto& [short_set, long_set] = text_by_set[p.set];
        (p.long_text() ? long_set : short_set).push_back(t);
        line.update({{"bucket", p.long_text() ? "long" : "short"},
                     {"ed", t.ed},
                     {"cr", t.cr},
                     {"wac", t.wac},
                     {"oneig_score", t.oneig},
                     {"longtext_accuracy", t.longtext}});
      }
      samples << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    nlohmann::json out = {
        {"image_tokens_per_s", tokens_ / std::max(set_.sample_s, 1e-9)},
        {"decode_images_per_s", double(prompts_.size()) / std::max(set_.decode_s, 1e-9)}};
    const auto rate = [](int64_t k, int64_t n) { return n ? double(k) / double(n) : 0.0; };
    nlohmann::json sets = nlohmann::json::object();
    if (scenes) {
      // unseen_overall is null when every scene prompt is seen: no rate, rather than a false 0.
      out["scene"] = {
          {"overall", rate(pass, scenes)},
          {"total", scenes},
          {"unseen_overall", unseen ? nlohmann::json(rate(unseen_pass, unseen)) : nlohmann::json()},
          {"unseen_total", unseen},
          {"clean_mean", clean_sum / double(scenes)},
          {"by_category", tally_json(by_category, "pass")}};
      for (const auto& [name, ct] : by_set)
        sets[name] = {
            {"task", "scene"}, {"total", ct.second}, {"pass_rate", rate(ct.first, ct.second)}};
    }
    if (!short_all.empty() || !long_all.empty()) {
      out["text"] = nlohmann::json::object();
      if (!short_all.empty()) out["text"]["short"] = short_text_json(short_all);
      if (!long_all.empty()) out["text"]["long"] = long_text_json(long_all);
      for (const auto& [name, st] : text_by_set) {
        nlohmann::json& s = sets[name];
        s = {{"task", "text"}, {"total", st.first.size() + st.second.size()}};
        if (!st.first.empty()) s["oneig_score"] = short_text_json(st.first)["oneig_score"];
        if (!st.second.empty())
          s["longtext_accuracy"] = long_text_json(st.second)["longtext_accuracy"];
      }
    }
    out["by_set"] = sets;
    return out;
  }

  const std::string& key() const { return key_; }

 private:
  std::vector<const EvalPrompt*> prompts_;
  double g_;
  std::string key_;
  ImageSet set_;
  double tokens_ = 0;
  std::vector<bool> pass_;
  std::vector<double> clean_;  // world::geneval_clean_fraction of each scene image
  std::vector<std::string> png_;
  std::map<std::string, std::pair<rl::RewardPool*, int64_t>> tickets_;
};

nlohmann::json understanding(const EvalModel& m, const std::vector<const EvalPrompt*>& prompts,
                             const std::string& out_dir) {
  Tally by_type, by_set;
  int64_t correct = 0;
  std::ofstream answers(out_dir + "/understanding.jsonl");
  for (const EvalPrompt* p : prompts) {
    const Image image = vqa_image(*p);
    const Grid grid = m.grid_for(double(image.width) / double(image.height));
    const std::vector<int64_t> codes =
        understanding_codes(*m.image_tok.tokenizer, image, grid.first, grid.second);
    const std::string answer = answer_greedily(m, codes, p->prompt.text, grid);
    const std::string expected =
        nlohmann::json::parse(p->prompt.metadata_json)["answer"].get<std::string>();
    const bool ok = codec::trim_lower(answer) == codec::trim_lower(expected);
    correct += ok;
    for (auto* tally : {&by_type, &by_set}) {
      auto& [c, t] = (*tally)[tally == &by_type ? codec::question_type(p->prompt.text) : p->set];
      c += ok, ++t;
    }
    answers << nlohmann::json{{"set", p->set},
                              {"index", p->index},
                              {"line", p->line},
                              {"question", p->prompt.text},
                              {"answer", answer},
                              {"expected", expected},
                              {"correct", ok},
                              {"seen", p->seen},
                              {"grid", {grid.first, grid.second}}}
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  }
  return {{"vqa",
           {{"accuracy", double(correct) / double(prompts.size())},
            {"total", prompts.size()},
            {"by_type", tally_json(by_type, "correct")},
            {"by_set", tally_json(by_set, "correct")}}}};
}

}  // namespace

nlohmann::json evaluate_prompt_files(const StudyEvalOptions& o) {
  const auto start = Clock::now();
  XOMNI_CHECK(!o.prompt_files.empty(), "xomni eval: no --prompts FILE.jsonl given");
  XOMNI_CHECK(!o.cfg.empty(), "xomni eval: no CFG scale given");
  fs::create_directories(o.out_dir);
  nlohmann::json files;
  std::vector<EvalPrompt> prompts = read_prompts(o, files);
  mark_seen(o.seen, prompts);
  std::vector<const EvalPrompt*> generation, vqa;
  for (const EvalPrompt& p : prompts) (p.prompt.task == "vqa" ? vqa : generation).push_back(&p);

  const EvalModel m = load_eval_model(o.checkpoint, o.multimodal);
  NoGradGuard no_grad;
  nlohmann::json out = {{"checkpoint", o.checkpoint},
                        {"grid", {m.h, m.w}},
                        {"grids", m.info.grids},
                        {"sampler",
                         {{"temperature", 1},
                          {"min_p", 0.03},
                          {"top_p", 1},
                          {"seed", o.seed},
                          {"batch", o.batch},
                          {"decoder_steps", o.decoder_steps}}},
                        {"prompt_files", files},
                        {"cfg", o.cfg},
                        {"seen_datasets", o.seen}};
  if (!generation.empty()) {
    const codec::LoadedDecoder dec = load_eval_decoder(m, o.decoder);
    std::map<std::string, std::unique_ptr<rl::RewardPool>> ocr;
    std::vector<std::unique_ptr<CfgRun>> runs;
    for (const double g : o.cfg) {
      XOMNI_CHECK(std::isfinite(g), "--cfg: ", g, " is not a finite guidance scale (1: off)");
      runs.push_back(std::make_unique<CfgRun>(o, m, *dec.decoder, generation, g, ocr));
    }
    out["generation"] = nlohmann::json::object();
    for (auto& run : runs) out["generation"][run->key()] = run->finish(o.out_dir);
  }
  if (!vqa.empty()) out["understanding"] = understanding(m, vqa, o.out_dir);
  out["timing"] = {{"total_s", seconds_since(start)}};
  std::ofstream(o.out_dir + "/results.json")
      << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return out;
}

std::string results_table(const nlohmann::json& r) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %-6s %-6s %6s  %s\n", "set", "task", "cfg", "n", "score");
  out += buf;
  if (r.contains("generation"))
    for (const auto& [g, at] : r["generation"].items())
      for (const auto& entry : at["by_set"].items()) {
        // Named references, not structured bindings: the lambda below captures `s`, which
        // clang before 16 refuses for a binding.
        const std::string& set = entry.key();
        const nlohmann::json& s = entry.value();
        std::string score;
        const auto add = [&](const char* key, const char* label) {
          if (!s.contains(key)) return;
          char num[64];
          std::snprintf(num, sizeof num, "%s%s %.3f", score.empty() ? "" : ", ", label,
                        s[key].get<double>());
          score += num;
        };
        add("pass_rate", "scene pass rate");
        add("oneig_score", "OneIG text score");
        add("longtext_accuracy", "LongText accuracy");
        std::snprintf(buf, sizeof buf, "%-16s %-6s %-6s %6d  %s\n", set.c_str(),
                      s["task"].get<std::string>().c_str(), g.c_str(), s["total"].get<int>(),
                      score.c_str());
        out += buf;
      }
  if (r.contains("understanding"))
    for (const auto& [set, s] : r["understanding"]["vqa"]["by_set"].items()) {
      std::snprintf(buf, sizeof buf, "%-16s %-6s %-6s %6d  VQA accuracy %.3f\n", set.c_str(), "vqa",
                    "-", s["total"].get<int>(), s["rate"].get<double>());
      out += buf;
    }
  return out;
}

}  // namespace xomni::cli
