// PlanJob from a job file's text: the keys `xomni train` reads for the LM stage's model, step and
// layout knobs, with the same defaults (jobs/lm/lm_job.cpp, jobs/train/options.cpp).
#include <toml++/toml.h>

#include <cstdio>
#include <sstream>

#include "plan/step_model.h"
#include "xomni/core/tensor/error.h"

namespace xomni::plan {
namespace {

// The tiny study's decoder (32 px, 4 steps) on the Zen 5 VM at one thread: 1.380 s for 32 images
// per round (docs/SCALING.md, "The RL step"). Scoring: the scene reward's worker always kept up
// (no wait in any run), so 0 until a reward is measured on its own.
constexpr double kTinyDecodeSecondsPerImage = 0.0431;
constexpr double kTinySceneRewardSeconds = 0.0;

class Reader {
 public:
  Reader(const toml::table& doc, std::string where) : doc_(doc), where_(std::move(where)) {}

  int64_t positive(const char* path, std::optional<int64_t> fallback) const {
    const toml::node_view<const toml::node> n = doc_.at_path(path);
    if (!n) {
      XOMNI_CHECK(fallback.has_value(), where_, ": ", path, " is missing (the planner needs it)");
      return *fallback;
    }
    const std::optional<int64_t> v = n.value<int64_t>();
    XOMNI_CHECK(v.has_value() && n.is_integer() && *v >= 1, where_, ": ", path,
                " must be a positive integer");
    return *v;
  }
  int64_t non_negative(const char* path, int64_t fallback) const {
    const toml::node_view<const toml::node> n = doc_.at_path(path);
    if (!n) return fallback;
    XOMNI_CHECK(n.is_integer() && *n.value<int64_t>() >= 0, where_, ": ", path,
                " must be an integer >= 0");
    return *n.value<int64_t>();
  }
  bool flag(const char* path, bool fallback) const {
    const toml::node_view<const toml::node> n = doc_.at_path(path);
    if (!n) return fallback;
    XOMNI_CHECK(n.is_boolean(), where_, ": ", path, " must be true or false");
    return *n.value<bool>();
  }
  double number(const char* path, double fallback) const {
    const toml::node_view<const toml::node> n = doc_.at_path(path);
    if (!n) return fallback;
    XOMNI_CHECK(n.is_number(), where_, ": ", path, " must be a number");
    return *n.value<double>();
  }
  std::string text(const char* path, const std::string& fallback) const {
    const toml::node_view<const toml::node> n = doc_.at_path(path);
    if (!n) return fallback;
    XOMNI_CHECK(n.is_string(), where_, ": ", path, " must be a string");
    return *n.value<std::string>();
  }

 private:
  const toml::table& doc_;
  std::string where_;
};

// [rl] of a GRPO stage job, plus the planner's own inputs (rl.plan_*, given with --set).
void read_rl(const Reader& r, RlPlan& rl, const std::string& where) {
  rl.on = true;
  rl.group_size = r.positive("rl.group_size", 8);
  rl.updates_per_batch = r.positive("rl.updates_per_batch", 1);
  rl.reward_workers = r.non_negative("rl.reward_workers", 1);
  rl.kl = r.number("rl.kl_weight", 0.01) > 0;
  rl.prompt_tokens = r.positive("rl.plan_prompt_tokens", 24);
  const std::string grid = r.text("rl.grid", "");
  if (!grid.empty()) {
    long long h = 0, w = 0;
    char x = 0, extra = 0;
    XOMNI_CHECK(std::sscanf(grid.c_str(), "%lld%c%lld%c", &h, &x, &w, &extra) == 3 && x == 'x' &&
                    h > 0 && w > 0,
                where, ": rl.grid = \"", grid, "\"; expected \"HxW\", e.g. \"8x8\"");
    rl.image_tokens = h * w;
  }
  // The tiny study's decoder (4 steps, 32 px) and scene reward on the Zen 5 VM, one thread
  // (docs/SCALING.md, "The RL step").
  rl.decode_s_per_image = r.number("rl.plan_decode_s_per_image", kTinyDecodeSecondsPerImage);
  rl.reward_s_per_image = r.number("rl.plan_reward_s_per_image", kTinySceneRewardSeconds);
  XOMNI_CHECK(rl.decode_s_per_image >= 0 && rl.reward_s_per_image >= 0, where,
              ": rl.plan_decode_s_per_image and rl.plan_reward_s_per_image must be >= 0");
}

}  // namespace

PlanJob plan_job_from_toml(const std::string& text, const std::string& where,
                           const std::vector<std::string>& overrides) {
  toml::table doc;
  try {
    doc = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw Error(where + ":" + std::to_string(e.source().begin.line) +
                ": TOML syntax error: " + std::string(e.description()));
  }
  // --set section.key=value, the value in TOML syntax (as `xomni train --set`).
  for (const std::string& o : overrides) {
    const size_t eq = o.find('='), dot = o.find('.');
    XOMNI_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq,
                "--set wants section.key=value, got '", o, "'");
    const std::string section = o.substr(0, dot), key = o.substr(dot + 1, eq - dot - 1);
    toml::table value;
    try {
      value = toml::parse("v = " + o.substr(eq + 1));
    } catch (const toml::parse_error&) {
      value.insert("v", o.substr(eq + 1));  // unquoted text, as `xomni train --set` takes it
    }
    if (!doc.contains(section)) doc.insert(section, toml::table{});
    toml::table* t = doc[section].as_table();
    XOMNI_CHECK(t, "--set ", o, ": ", section, " is not a section of ", where);
    t->insert_or_assign(key, *value.get("v"));
  }
  const Reader r(doc, where);
  PlanJob job;
  job.source = where;
  PlanModel& m = job.model;
  const std::string backbone = r.text("model.backbone", "qwen2");
  XOMNI_CHECK(backbone == "qwen2" || backbone == "xomni", where, ": model.backbone = \"", backbone,
              "\"; the planner models the qwen2 and xomni backbones");
  m.xomni = backbone == "xomni";
  m.layers = r.positive("model.num_hidden_layers", std::nullopt);
  m.hidden = r.positive("model.hidden_size", std::nullopt);
  m.intermediate = r.positive("model.intermediate_size", std::nullopt);
  m.heads = r.positive("model.num_attention_heads", std::nullopt);
  m.kv_heads = r.positive("model.num_key_value_heads", std::nullopt);
  m.vocab = r.positive("model.vocab_size", std::nullopt);
  XOMNI_CHECK(m.hidden % m.heads == 0, where, ": model.hidden_size=", m.hidden,
              " is not a multiple of model.num_attention_heads=", m.heads);
  XOMNI_CHECK(m.heads % m.kv_heads == 0, where, ": model.num_attention_heads=", m.heads,
              " is not a multiple of model.num_key_value_heads=", m.kv_heads);
  m.tie_embeddings = r.flag("model.tie_word_embeddings", true);
  if (m.xomni) {
    m.tie_embeddings = false;  // X-Omni's heads are separate modules
    m.mm_vocab = r.positive("model.mm_vocab_size", std::nullopt);
    m.mm_adap_layers = r.non_negative("model.num_mm_adap_layers", 0);
    m.mm_head_layers = r.non_negative("model.num_mm_head_layers", 0);
    m.image_vocab = r.non_negative("model.image_vocab_size", 0);
  }
  job.seq_len = r.positive("train.seq_len", 128);
  job.batch_size = r.positive("train.batch_size", 8);
  job.micro_batches = r.positive("train.grad_accum", 1);
  job.virtual_stages = int(r.positive("parallel.virtual_stages", 1));
  job.recompute = r.flag("model.checkpoint_layers", false);
  job.fused_head_loss = r.flag("model.fused_head_loss", true);
  job.zero1 = r.flag("parallel.distributed_optimizer", false);
  job.sequence_parallel = r.flag("parallel.sequence_parallel", false);
  job.bucket_mb = r.number("parallel.bucket_mb", 25.0);
  job.overlap_grad_reduce = r.flag("parallel.overlap_grad_reduce", true);
  job.overlap_param_gather = r.flag("parallel.overlap_param_gather", true);
  XOMNI_CHECK(job.bucket_mb > 0, where, ": parallel.bucket_mb must be > 0");
  const std::string precision = r.text("train.precision", "fp32");
  XOMNI_CHECK(precision == "fp32" || precision == "bf16", where, ": train.precision = \"",
              precision, "\"; expected \"fp32\" or \"bf16\"");
  job.bf16 = precision == "bf16";
  if (r.text("run.stage", "lm") == "rl") read_rl(r, job.rl, where);
  return job;
}

parallel::Layout parse_layout(const std::string& text, int devices) {
  parallel::Layout l{1, 1, 0, 1};
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t eq = part.find('=');
    XOMNI_CHECK(eq != std::string::npos, "--layout wants tp=A,cp=B,dp=C,pp=D, got '", text, "'");
    const std::string k = part.substr(0, eq), v = part.substr(eq + 1);
    int n = 0;
    try {
      size_t used = 0;
      n = std::stoi(v, &used);
      XOMNI_CHECK(used == v.size(), "");
    } catch (const std::exception&) {
      throw Error("--layout: " + k + " wants a whole number, got '" + v + "'");
    }
    if (k == "tp")
      l.tp = n;
    else if (k == "cp")
      l.cp = n;
    else if (k == "dp")
      l.dp = n;
    else if (k == "pp")
      l.pp = n;
    else
      throw Error("--layout: unknown dimension '" + k + "' (tp, cp, dp, pp)");
  }
  return parallel::resolve_layout(l, devices, "--layout");
}

}  // namespace xomni::plan
