// Loading the X-Omni commands' model and data description (see mm_model.h).
#include "mm_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "lm/lm_components.h"
#include "lm/lm_job.h"
#include "rl/rl_job.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "cannot read ", path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

json parse_json(const std::string& text, const std::string& where) {
  try {
    json j = json::parse(text);
    XOMNI_CHECK(j.is_object(), where, ": expected a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(where + ": not valid JSON (" + e.what() + ")");
  }
}

int64_t int_field(const json& j, const char* key, int64_t fallback) {
  if (!j.contains(key)) return fallback;
  XOMNI_CHECK(j[key].is_number_integer(), "'", key, "' is not an integer");
  return j[key].get<int64_t>();
}

// The vocabulary split and context length from the backbone's settings (Hugging Face names):
// an X-Omni model's vocab_size is its text vocabulary, image_vocab_size its codes.
void read_settings(MmModel& m, const std::string& settings, const std::string& where) {
  const json j = parse_json(settings, where);
  try {
    m.max_positions = int_field(j, "max_position_embeddings", 0);
    if (m.backbone == "xomni") {
      m.vocab = {int_field(j, "vocab_size", 0), int_field(j, "image_vocab_size", 0)};
      XOMNI_CHECK(m.vocab.text > 0 && m.vocab.image > 0,
                  "an X-Omni model needs vocab_size and image_vocab_size > 0");
    } else {
      m.vocab = {m.lm->vocab_size(), 0};
    }
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

// A relative path of a saved job config is relative to the job file's folder, which the run's
// layout gives: the checkpoint is <folder>/<run.dir>/<run.name>/checkpoints/<file> when run.dir
// is relative. The path as written when it exists from here or the folder is unknown.
std::string job_relative_path(const std::string& p, const std::string& run_dir,
                              const std::string& checkpoint) {
  if (p.empty() || fs::path(p).is_absolute() || fs::exists(p) || fs::path(run_dir).is_absolute())
    return p;
  fs::path folder = fs::absolute(checkpoint).parent_path().parent_path().parent_path();
  const fs::path rel(run_dir);
  for (const fs::path& part : rel)
    if (!part.empty() && part != ".") folder = folder.parent_path();
  const fs::path candidate = folder / p;
  return fs::exists(candidate) ? candidate.string() : p;
}

std::string saved_data_train(const std::string& path, int depth);

// The folder of an rl checkpoint's data, where multimodal.json lies: that of rl.multimodal, or else
// that of the checkpoint the run started from (model.init_checkpoint, followed back to a stage
// with data).
std::string rl_data_train(const rl::RlJob& job, const std::string& path, int depth) {
  if (!job.rl.multimodal.empty())
    return fs::path(job_relative_path(job.rl.multimodal, job.trainer.run.dir, path))
        .parent_path()
        .string();
  return saved_data_train(job_relative_path(job.model.init_checkpoint, job.trainer.run.dir, path),
                          depth + 1);
}

// The same for any xomni training checkpoint: [data] train of an LM-stage job.
std::string saved_data_train(const std::string& path, int depth) {
  XOMNI_CHECK(depth < 16, path, ": model.init_checkpoint chains back more than 16 rl runs");
  std::string config;
  {
    CheckpointReader r(path);
    XOMNI_CHECK(r.has_config(), path, ": the checkpoint holds no job config");
    config = r.config();
  }
  const std::string where = path + " (saved job config)";
  if (Config::peek_string(config, where, "run.stage", {}, "lm") == "rl")
    return rl_data_train(rl::parse_rl_job(rl::parse_rl_config(config, where)), path, depth);
  const train::LmJob job = train::parse_lm_job(train::parse_lm_config(config, where));
  return job_relative_path(job.data.train, job.trainer.run.dir, path);
}

}  // namespace

std::string backbone_for_config(const std::string& config_json, const std::string& where) {
  const json j = parse_json(config_json, where);
  return j.contains("model_type") && j["model_type"] == "x-omni" ? "xomni" : "qwen2";
}

MmModel load_model_folder(const std::string& dir, const std::string& backbone) {
  MmModel m;
  plugins::ComponentContext ctx;
  ctx.config_json = read_text_file(dir + "/config.json");
  ctx.where = dir + "/config.json";
  m.backbone = backbone.empty() ? backbone_for_config(ctx.config_json, ctx.where) : backbone;
  m.lm = plugins::create_backbone(m.backbone, ctx);
  try {
    m.lm->load_weights(load_safetensors_any(dir));
  } catch (const Error& e) {
    const std::string what = e.what();
    // safetensors errors already start with the file; the model's own checks do not.
    throw Error(what.find(dir) == std::string::npos ? dir + ": " + what : what);
  }
  read_settings(m, ctx.config_json, ctx.where);
  return m;
}

MmModel load_model_checkpoint(const std::string& path, const std::string& backbone) {
  MmModel m;
  std::string hf_config;
  {
    CheckpointReader r(path);
    if (r.has_config()) {
      const std::string where = path + " (saved job config)";
      if (Config::peek_string(r.config(), where, "run.stage", {}, "lm") == "rl") {
        const rl::RlJob job = rl::parse_rl_job(rl::parse_rl_config(r.config(), where));
        m.backbone = job.model.backbone;
        m.data_train = rl_data_train(job, path, 0);
        m.lm = train::load_checkpoint_model(path, job.model, job.trainer.run.seed);
        read_settings(m, job.model.settings_json, where + " [model]");
        return m;
      }
      const train::LmJob job = train::parse_lm_job(train::parse_lm_config(r.config(), where));
      m.backbone = job.model.backbone;
      m.data_train = job_relative_path(job.data.train, job.trainer.run.dir, path);
      m.lm = train::load_checkpoint_model(path, job.model, job.trainer.run.seed);
      read_settings(m, job.model.settings_json, where + " [model]");
      return m;
    }
    const std::vector<std::string> keys = r.metadata_keys();
    XOMNI_CHECK(std::find(keys.begin(), keys.end(), "hf_config_json") != keys.end(), path,
                ": holds neither a job config (a checkpoint of xomni train) nor a model config "
                "(hf_config_json, written by xomni convert from a folder with config.json); "
                "convert the model folder, not its .safetensors file");
    hf_config = r.metadata("hf_config_json");
  }
  plugins::ComponentContext ctx;
  ctx.config_json = hf_config;
  ctx.where = path + " (hf_config_json)";
  m.backbone = backbone.empty() ? backbone_for_config(hf_config, ctx.where) : backbone;
  m.lm = plugins::create_backbone(m.backbone, ctx);
  CheckpointReader r(path);
  TensorMap weights;
  const std::string prefix = "model/";
  for (const std::string& name : r.tensor_names())
    if (name.compare(0, prefix.size(), prefix) == 0)
      weights.emplace(name.substr(prefix.size()), r.read_tensor(name));
  try {
    m.lm->load_weights(weights);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  read_settings(m, hf_config, ctx.where);
  return m;
}

MultimodalInfo read_multimodal_info(const std::string& path) {
  XOMNI_CHECK(fs::is_regular_file(path), path,
              ": no such file (multimodal.json is written with "
              "the multimodal token shards)");
  const json j = parse_json(read_text_file(path), path);
  MultimodalInfo info;
  info.path = path;
  const fs::path folder = fs::absolute(path).parent_path();
  try {
    XOMNI_CHECK(j.value("format", "") == "xomni-multimodal",
                "'format' is not \"xomni-multimodal\"");
    XOMNI_CHECK(j.value("format_version", 0) == 1, "format_version ", j.value("format_version", 0),
                " is not 1 (this xomni reads version 1)");
    const std::string tok = j.at("text_tokenizer").get<std::string>();
    info.text_tokenizer = fs::path(tok).is_absolute() ? tok : (folder / tok).string();
    info.text_vocab_size = j.at("text_vocab_size").get<int64_t>();
    info.image_vocab_size = j.at("image_vocab_size").get<int64_t>();
    info.image_tokenizer = j.at("image_tokenizer").get<std::string>();
    info.decoder = j.value("decoder", "");
    for (const json& g : j.at("grids")) {
      XOMNI_CHECK(g.is_array() && g.size() == 2, "a grid is not [h, w]");
      info.grids.emplace_back(g[0].get<int64_t>(), g[1].get<int64_t>());
    }
    XOMNI_CHECK(!info.grids.empty(), "'grids' is empty");
    const json& s = j.at("special_tokens");
    info.som = s.at("som").get<int64_t>();
    info.eom = s.at("eom").get<int64_t>();
    info.image = s.at("image").get<int64_t>();
    info.eos = s.at("eos").get<int64_t>();
  } catch (const json::exception& e) {
    throw Error(path + ": " + e.what());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return info;
}

MultimodalInfo find_multimodal_info(const MmModel& model, const std::string& checkpoint,
                                    const std::string& override_path) {
  std::string where = override_path;
  if (where.empty()) {
    XOMNI_CHECK(!model.data_train.empty(), checkpoint,
                ": not a checkpoint of an xomni training job (no [data] train folder); pass "
                "--multimodal DIR/multimodal.json");
    where = model.data_train;
    XOMNI_CHECK(fs::exists(where), checkpoint, ": its job's [data] train ", where,
                " does not exist here; pass --multimodal DIR (the folder of multimodal.json)");
  }
  if (fs::is_directory(where))
    return read_multimodal_info((fs::path(where) / "multimodal.json").string());
  if (fs::path(where).filename() == "multimodal.json") return read_multimodal_info(where);
  return read_multimodal_info((fs::path(where).parent_path() / "multimodal.json").string());
}

MultimodalInfo rl_job_multimodal_info(const rl::RlJob& job) {
  const std::string& init = job.model.init_checkpoint;
  XOMNI_CHECK(!job.rl.multimodal.empty() || fs::is_regular_file(init),
              "neither rl.multimodal nor a model.init_checkpoint that exists (\"", init,
              "\") says where the rl job's data and its multimodal.json are");
  const std::string data = job.rl.multimodal.empty() ? saved_data_train(init, 0) : "";
  MmModel by_data;
  by_data.data_train = data;
  return find_multimodal_info(by_data, init, job.rl.multimodal);
}

void check_model_matches(const MmModel& model, const MultimodalInfo& info,
                         const std::string& checkpoint) {
  XOMNI_CHECK(model.is_xomni(), checkpoint, ": a ", model.backbone,
              " model, not an X-Omni one (backbone \"xomni\"); it has no image vocabulary");
  XOMNI_CHECK(
      model.vocab.text == info.text_vocab_size && model.vocab.image == info.image_vocab_size,
      checkpoint, ": the model's vocabulary (text ", model.vocab.text, ", image ",
      model.vocab.image, ") is not the data's in ", info.path, " (text ", info.text_vocab_size,
      ", image ", info.image_vocab_size, ")");
}

std::pair<int64_t, int64_t> parse_grid(const std::string& text, const char* flag) {
  const size_t x = text.find_first_of("xX");
  int64_t h = 0, w = 0;
  try {
    XOMNI_CHECK(x != std::string::npos, "");
    size_t used = 0;
    const std::string hs = text.substr(0, x), ws = text.substr(x + 1);
    h = std::stoll(hs, &used);
    XOMNI_CHECK(used == hs.size(), "");
    w = std::stoll(ws, &used);
    XOMNI_CHECK(used == ws.size(), "");
  } catch (const std::exception&) {
    throw Error(std::string(flag) + ": '" + text + "' is not a token grid HxW (e.g. 8x8)");
  }
  XOMNI_CHECK(h >= 1 && w >= 1 && h <= 4096 && w <= 4096, flag, ": the grid ", text,
              " must have sides in [1, 4096]");
  return {h, w};
}

std::string grid_list(const std::vector<std::pair<int64_t, int64_t>>& grids) {
  std::string s;
  for (const auto& [h, w] : grids)
    s += (s.empty() ? "" : ", ") + std::to_string(h) + "x" + std::to_string(w);
  return s;
}

std::pair<int64_t, int64_t> nearest_grid(const std::vector<std::pair<int64_t, int64_t>>& grids,
                                         double aspect) {
  XOMNI_CHECK(!grids.empty() && aspect > 0, "nearest_grid: no grid, or aspect ", aspect);
  std::pair<int64_t, int64_t> best = grids.front();
  double best_gap = INFINITY;
  for (const auto& [h, w] : grids) {
    const double gap = std::fabs(std::log(double(w) / double(h) / aspect));
    if (gap < best_gap - 1e-12) best_gap = gap, best = {h, w};
  }
  return best;
}

}  // namespace xomni::cli
