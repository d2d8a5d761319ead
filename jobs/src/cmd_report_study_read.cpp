// xomni report study: reading a run root (study.json, the stages' metrics.jsonl, bon/bon.json,
// eval-<stage>/results.json and samples). A file that is absent is a stage that was not run; a
// file that is there but malformed stops the report with its path.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <tuple>

#include "cmd_report_study.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {

using nlohmann::json;

json load_json(const fs::path& file) {
  std::ifstream in(file);
  XOMNI_CHECK(in, "report study: cannot read ", file.string());
  json j = json::parse(in, nullptr, false);
  XOMNI_CHECK(!j.is_discarded(), "report study: ", file.string(), " is not valid JSON");
  XOMNI_CHECK(j.is_object(), "report study: ", file.string(), " is not a JSON object");
  return j;
}

// Typed reads from a JSON object: absent or null gives NaN / "" / an empty object; any other
// type than the schema's is an error naming the file and the key's path.
struct Reader {
  fs::path file;
  double number(const json& o, const std::string& key, const std::string& where) const {
    if (!o.contains(key) || o.at(key).is_null()) return kNone;
    XOMNI_CHECK(o.at(key).is_number(), "report study: ", file.string(), ": ", where, key,
                " is not a number");
    return o.at(key).get<double>();
  }
  std::string text(const json& o, const std::string& key, const std::string& where) const {
    if (!o.contains(key) || o.at(key).is_null()) return "";
    XOMNI_CHECK(o.at(key).is_string(), "report study: ", file.string(), ": ", where, key,
                " is not a string");
    return o.at(key).get<std::string>();
  }
  const json& object(const json& o, const std::string& key, const std::string& where) const {
    static const json empty = json::object();
    if (!o.contains(key) || o.at(key).is_null()) return empty;
    XOMNI_CHECK(o.at(key).is_object(), "report study: ", file.string(), ": ", where, key,
                " is not an object");
    return o.at(key);
  }
  const json& array(const json& o, const std::string& key, const std::string& where) const {
    static const json empty = json::array();
    if (!o.contains(key) || o.at(key).is_null()) return empty;
    XOMNI_CHECK(o.at(key).is_array(), "report study: ", file.string(), ": ", where, key,
                " is not an array");
    return o.at(key);
  }
  std::map<std::string, Rate> rates(const json& o, const std::string& key, const char* hits,
                                    const std::string& where) const {
    std::map<std::string, Rate> out;
    for (const auto& [name, r] : object(o, key, where).items()) {
      const std::string at = where + key + "." + name + ".";
      XOMNI_CHECK(r.is_object(), "report study: ", file.string(), ": ", where, key, ".", name,
                  " is not an object");
      out[name] = {number(r, hits, at), number(r, "total", at), number(r, "rate", at)};
    }
    return out;
  }
};

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v.get<double>());
    return buf;
  }
  return v.dump();
}

fs::path stage_dir(const Study& s, const std::string& name) {
  for (const StageInfo& st : s.stages)
    if (st.name == name && !st.dir.empty()) return s.root / st.dir;
  return s.root / name;
}

void read_study_json(Study& s) {
  const fs::path file = s.root / "study.json";
  const json j = load_json(file);
  const Reader r{file};
  s.name = r.text(j, "name", "");
  s.scale = r.text(j, "scale", "");
  s.seed = r.number(j, "seed", "");
  const json& stages = r.array(j, "stages", "");
  for (size_t i = 0; i < stages.size(); ++i) {
    const std::string at = "stages[" + std::to_string(i) + "].";
    XOMNI_CHECK(stages[i].is_object(), "report study: ", file.string(), ": stages[", i,
                "] is not an object");
    StageInfo st{r.text(stages[i], "name", at), r.text(stages[i], "kind", at),
                 r.text(stages[i], "status", at), r.text(stages[i], "dir", at),
                 r.number(stages[i], "wall_s", at)};
    XOMNI_CHECK(!st.name.empty(), "report study: ", file.string(), ": ", at, "name is missing");
    s.stages.push_back(st);
  }
  for (const auto& [stage, values] : r.object(j, "settings", "").items()) {
    XOMNI_CHECK(values.is_object(), "report study: ", file.string(), ": settings.", stage,
                " is not an object");
    std::vector<std::pair<std::string, std::string>> kv;
    for (const auto& [key, v] : values.items()) kv.emplace_back(key, scalar_text(v));
    s.settings.emplace_back(stage, kv);
  }
  // In pipeline order (JSON objects come back sorted by key); stages not listed go last.
  auto rank = [&](const std::string& stage) {
    for (size_t i = 0; i < s.stages.size(); ++i)
      if (s.stages[i].name == stage) return i;
    return s.stages.size();
  };
  std::stable_sort(s.settings.begin(), s.settings.end(),
                   [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
}

// Every numeric key of every line with a step. Lines that do not parse (a run cut short mid-line)
// are skipped with a warning, as `xomni report run` does.
std::map<std::string, Curve> read_metrics(const fs::path& file) {
  std::map<std::string, Curve> out;
  std::ifstream in(file);
  if (!in) return out;
  std::string line;
  int64_t unreadable = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number()) {
      ++unreadable;
      continue;
    }
    const auto step = int64_t(j["step"].get<double>());
    for (const auto& [key, v] : j.items())
      if (key != "step" && v.is_number()) out[key][step] = v.get<double>();
  }
  if (unreadable > 0)
    std::fprintf(stderr, "report study: warning: %s: %lld line(s) without a step number ignored\n",
                 file.c_str(), static_cast<long long>(unreadable));
  return out;
}

void read_bon(Study& s) {
  const fs::path file = stage_dir(s, "bon") / "bon.json";
  if (!fs::exists(file)) return;
  const json j = load_json(file);
  const Reader r{file};
  const json& by_n = r.array(j, "by_n", "");
  for (size_t i = 0; i < by_n.size(); ++i) {
    const std::string at = "by_n[" + std::to_string(i) + "].";
    XOMNI_CHECK(by_n[i].is_object(), "report study: ", file.string(), ": by_n[", i,
                "] is not an object");
    const double n = r.number(by_n[i], "n", at), v = r.number(by_n[i], "mean_best_reward", at);
    XOMNI_CHECK(n >= 1 && n == std::floor(n) && std::isfinite(v), "report study: ", file.string(),
                ": ", at, "needs a whole n >= 1 and a mean_best_reward");
    s.bon[int64_t(n)] = v;
  }
}

// G: study.json's settings.rl.group_size, else the rl run's config.toml (`group_size = 8`).
void find_group_size(Study& s) {
  for (const auto& [stage, kv] : s.settings) {
    if (stage != "rl") continue;
    for (const auto& [key, v] : kv) {
      if (key != "group_size") continue;
      char* end = nullptr;
      const double g = std::strtod(v.c_str(), &end);
      XOMNI_CHECK(end != v.c_str() && *end == 0 && g >= 1,
                  "report study: ", (s.root / "study.json").string(), ": settings.rl.group_size '",
                  v, "' is not a whole number >= 1");
      s.group_size = g;
      s.group_size_from = "study.json settings.rl.group_size";
      return;
    }
  }
  const fs::path config = stage_dir(s, "rl") / "config.toml";
  std::ifstream in(config);
  const std::regex line_re(R"(^\s*group_size\s*=\s*([0-9]+))");
  std::string line;
  std::smatch m;
  while (in && std::getline(in, line)) {
    if (std::regex_search(line, m, line_re)) {
      s.group_size = std::stod(m[1]);
      s.group_size_from = config.string();
      return;
    }
  }
}

EvalResults read_eval(const fs::path& dir) {
  EvalResults e;
  e.dir = dir;
  const fs::path file = dir / "results.json";
  if (!fs::exists(file)) return e;
  e.present = true;
  const json j = load_json(file);
  const Reader r{file};
  e.checkpoint = r.text(j, "checkpoint", "");
  const json& grid = r.array(j, "grid", "");
  for (size_t i = 0; i < grid.size(); ++i) e.grid += (i ? "x" : "") + scalar_text(grid[i]);
  for (const auto& [key, v] : r.object(j, "sampler", "").items())
    e.sampler += (e.sampler.empty() ? "" : ", ") + key + " " + scalar_text(v);
  const json& files = r.array(j, "prompt_files", "");
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string at = "prompt_files[" + std::to_string(i) + "].";
    XOMNI_CHECK(files[i].is_object(), "report study: ", file.string(), ": prompt_files[", i,
                "] is not an object");
    e.prompt_files.push_back({r.text(files[i], "path", at), r.text(files[i], "sha256", at),
                              r.number(files[i], "lines", at), r.number(files[i], "scored", at),
                              int64_t(r.array(files[i], "errors", at).size())});
  }
  for (const auto& [key, g] : r.object(j, "generation", "").items()) {
    char* end = nullptr;
    const double cfg = std::strtod(key.c_str(), &end);
    XOMNI_CHECK(end != key.c_str() && *end == 0 && std::isfinite(cfg),
                "report study: ", file.string(), ": generation key '", key, "' is not a CFG scale");
    const std::string at = "generation." + key + ".";
    XOMNI_CHECK(g.is_object(), "report study: ", file.string(), ": ", at, " is not an object");
    GenerationScores s;
    const json& scene = r.object(g, "scene", at);
    const std::string sat = at + "scene.";
    s.scene_overall = r.number(scene, "overall", sat);
    s.scene_total = r.number(scene, "total", sat);
    s.unseen_overall = r.number(scene, "unseen_overall", sat);
    s.unseen_total = r.number(scene, "unseen_total", sat);
    s.clean_mean = r.number(scene, "clean_mean", sat);
    s.by_category = r.rates(scene, "by_category", "pass", sat);
    const json& text = r.object(g, "text", at);
    const json& short_text = r.object(text, "short", at + "text.");
    const std::string tat = at + "text.short.";
    s.short_total = r.number(short_text, "total", tat);
    s.ed = r.number(short_text, "ed", tat);
    s.cr = r.number(short_text, "cr", tat);
    s.wac = r.number(short_text, "wac", tat);
    s.oneig_score = r.number(short_text, "oneig_score", tat);
    const json& long_text = r.object(text, "long", at + "text.");
    s.long_total = r.number(long_text, "total", at + "text.long.");
    s.longtext_accuracy = r.number(long_text, "longtext_accuracy", at + "text.long.");
    s.image_tokens_per_s = r.number(g, "image_tokens_per_s", at);
    s.decode_images_per_s = r.number(g, "decode_images_per_s", at);
    e.generation[cfg] = s;
  }
  const json& vqa = r.object(r.object(j, "understanding", ""), "vqa", "understanding.");
  e.vqa_accuracy = r.number(vqa, "accuracy", "understanding.vqa.");
  e.vqa_total = r.number(vqa, "total", "understanding.vqa.");
  e.vqa_by_type = r.rates(vqa, "by_type", "correct", "understanding.vqa.");
  e.vqa_by_set = r.rates(vqa, "by_set", "correct", "understanding.vqa.");
  e.total_s = r.number(r.object(j, "timing", ""), "total_s", "timing.");
  return e;
}

// {sampler steps, PSNR} of the reconstruction at the most sampler steps ("1", "4", "16": the
// keys of "reconstruction" are step counts).
std::pair<double, double> psnr_at_most_steps(const Reader& r, const json& j) {
  double best = kNone, psnr = kNone;
  const json& reconstruction = r.object(j, "reconstruction", "");
  for (const auto& [key, v] : reconstruction.items()) {
    const double steps = std::strtod(key.c_str(), nullptr);
    if (!(steps > 0) || (std::isfinite(best) && steps <= best)) continue;
    best = steps;
    psnr = r.number(r.object(reconstruction, key, "reconstruction."), "psnr_db",
                    "reconstruction." + key + ".");
  }
  return {best, psnr};
}

CodecEval read_codec_eval(const fs::path& dir) {
  CodecEval c;
  const fs::path file = dir / "results.json";
  if (!fs::exists(file)) return c;
  c.present = true;
  const json j = load_json(file);
  const Reader r{file};
  c.samples = r.number(j, "samples", "");
  std::tie(c.sampler_steps, c.psnr_db) = psnr_at_most_steps(r, j);
  const json& checker = r.object(j, "scene_checker", "");
  c.checker_pass_rate = r.number(checker, "pass_rate", "scene_checker.");
  for (const auto& [category, v] : r.object(checker, "by_category", "scene_checker.").items()) {
    const std::string at = "scene_checker.by_category." + category + ".";
    XOMNI_CHECK(v.is_object(), "report study: ", file.string(), ": ", at, " is not an object");
    c.checker_by_category[category] = r.number(v, "pass_rate", at);
  }
  c.codes_used_fraction = r.number(r.object(j, "codebook", ""), "used_fraction", "codebook.");
  c.vqa_accuracy = r.number(r.object(j, "vqa", ""), "accuracy", "vqa.");
  c.retrieval_top1 = r.number(r.object(j, "retrieval", ""), "top1", "retrieval.");
  for (const auto& [name, v] : r.object(j, "code_information", "").items()) {
    const std::string at = "code_information." + name + ".";
    XOMNI_CHECK(v.is_object(), "report study: ", file.string(), ": code_information.", name,
                " is not an object");
    c.code_information[name] = {r.number(v, "probe_accuracy", at),
                                r.number(v, "majority_accuracy", at)};
  }
  const fs::path text_file = dir / "text-images" / "results.json";
  if (fs::exists(text_file)) {
    const json t = load_json(text_file);
    const Reader tr{text_file};
    c.text_samples = tr.number(t, "samples", "");
    c.text_psnr_db = psnr_at_most_steps(tr, t).second;
    const json& ocr = tr.object(t, "ocr", "");
    c.ocr_original = tr.number(ocr, "word_accuracy_original", "ocr.");
    c.ocr_reconstructed = tr.number(ocr, "word_accuracy_reconstructed", "ocr.");
  }
  return c;
}

Study read_study(const fs::path& root, const std::string& label) {
  Study s;
  s.root = root;
  read_study_json(s);
  s.label = label.empty() ? (s.name.empty() ? root.filename().string() : s.name) : label;
  for (const StageInfo& st : s.stages) {
    auto m = read_metrics(stage_dir(s, st.name) / "metrics.jsonl");
    if (!m.empty()) s.metrics[st.name] = std::move(m);
  }
  read_bon(s);
  find_group_size(s);
  for (int i = 0; kEvalStages[i]; ++i) {
    const std::string stage = kEvalStages[i];
    s.evals[stage] = read_eval(stage_dir(s, "eval-" + stage));
  }
  s.codec = read_codec_eval(stage_dir(s, "codec-eval"));
  return s;
}

}  // namespace

const char* const kEvalStages[] = {"s2", "sft", "rl", nullptr};

std::string cfg_key(double cfg) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", cfg);
  return buf;
}

std::vector<Study> read_run_root(const fs::path& root) {
  XOMNI_CHECK(fs::is_directory(root), "report study: ", root.string(), " is not a folder");
  if (fs::exists(root / "study.json")) return {read_study(root, "")};
  std::vector<fs::path> seeds;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "study.json"))
      seeds.push_back(entry.path());
  XOMNI_CHECK(!seeds.empty(), "report study: ", root.string(),
              " has no study.json, nor any subfolder with one (is it a run root of `xomni "
              "pipeline`?)");
  std::sort(seeds.begin(), seeds.end());
  std::vector<Study> out;
  for (const fs::path& p : seeds) out.push_back(read_study(p, p.filename().string()));
  return out;
}

std::vector<Sample> read_samples(const EvalResults& eval, double cfg) {
  std::vector<Sample> out;
  const fs::path file = eval.dir / "samples" / ("cfg-" + cfg_key(cfg)) / "samples.jsonl";
  std::ifstream in(file);
  if (!eval.present || !in) return out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json j = json::parse(line, nullptr, false);
    XOMNI_CHECK(!j.is_discarded() && j.is_object(), "report study: ", file.string(), ":", n,
                ": not a JSON object");
    const Reader r{file};
    const std::string at = "line " + std::to_string(n) + ": ";
    Sample s;
    s.set = r.text(j, "set", at);
    s.task = r.text(j, "task", at);
    s.category = r.text(j, "category", at);
    s.prompt = r.text(j, "prompt", at);
    s.ocr_text = r.text(j, "ocr_text", at);
    const double index = r.number(j, "index", at);
    s.index = std::isfinite(index) ? int64_t(index) : n - 1;
    const std::string png = r.text(j, "png", at);
    XOMNI_CHECK(!png.empty(), "report study: ", file.string(), ":", n, ": no \"png\"");
    s.png = eval.dir / png;
    if (j.contains("pass") && !j["pass"].is_null()) {
      XOMNI_CHECK(j["pass"].is_boolean() || j["pass"].is_number(), "report study: ", file.string(),
                  ":", n, ": \"pass\" is not true/false");
      s.pass =
          j["pass"].is_boolean() ? int(j["pass"].get<bool>()) : int(j["pass"].get<double>() > 0);
    }
    for (const char* key : {"ed", "cr", "wac", "oneig_score", "longtext_accuracy", "accuracy"})
      if (j.contains(key) && j[key].is_number()) s.sub_scores[key] = j[key].get<double>();
    out.push_back(std::move(s));
  }
  return out;
}

Stat stat_of(const std::vector<Study>& seeds, const std::function<double(const Study&)>& value) {
  Stat s;
  double sum = 0;
  for (const Study& st : seeds) {
    const double v = value(st);
    s.per_seed.push_back(v);
    if (!std::isfinite(v)) continue;
    sum += v;
    s.lo = s.n ? std::min(s.lo, v) : v;
    s.hi = s.n ? std::max(s.hi, v) : v;
    ++s.n;
  }
  if (s.n) s.mean = sum / double(s.n);
  return s;
}

double tail_mean(const Curve& c, int64_t window) {
  if (c.empty()) return kNone;
  double sum = 0;
  int64_t n = 0;
  for (auto it = c.rbegin(); it != c.rend() && n < window; ++it, ++n) sum += it->second;
  return sum / double(n);
}

Curve running_mean(const Curve& c, int64_t window) {
  Curve out;
  std::vector<double> recent;
  double sum = 0;
  for (const auto& [step, v] : c) {
    recent.push_back(v), sum += v;
    if (int64_t(recent.size()) > window) sum -= recent.front(), recent.erase(recent.begin());
    out[step] = sum / double(recent.size());
  }
  return out;
}

int64_t reward_window(const Curve& reward) {
  return std::max<int64_t>(1, int64_t(std::lround(double(reward.size()) / 10)));
}

const GenerationScores* generation_at(const Study& s, const std::string& stage, double cfg) {
  const auto e = s.evals.find(stage);
  if (e == s.evals.end()) return nullptr;
  const auto g = e->second.generation.find(cfg);
  return g == e->second.generation.end() ? nullptr : &g->second;
}

std::vector<double> cfg_scales(const std::vector<Study>& seeds, const std::string& stage) {
  std::vector<double> out;
  for (const Study& s : seeds) {
    const auto e = s.evals.find(stage);
    if (e == s.evals.end()) continue;
    for (const auto& [cfg, g] : e->second.generation)
      if (std::find(out.begin(), out.end(), cfg) == out.end()) out.push_back(cfg);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string format_number(double v, const char* format) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string format_stat(const Stat& s, const char* format) {
  if (s.n == 0) return "not run";
  if (s.per_seed.size() <= 1) return format_number(s.mean, format);
  return format_number(s.mean, format) + " (" + format_number(s.lo, format) + "-" +
         format_number(s.hi, format) + ")";
}

double main_cfg(const std::vector<Study>& seeds) {
  double smallest = kNone;
  for (const Study& s : seeds)
    for (const auto& [stage, e] : s.evals)
      for (const auto& [cfg, g] : e.generation) {
        if (cfg == 1) return 1;
        if (!(smallest <= cfg)) smallest = cfg;
      }
  return std::isfinite(smallest) ? smallest : 1;
}

}  // namespace xomni::cli::report
