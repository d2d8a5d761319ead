// Schema declarations, key suggestions, and the language-model job schema.
#include <algorithm>
#include <set>

#include "xomni/core/config/config.h"
#include "xomni/core/tensor/error.h"

namespace xomni {

FieldSpec int_field(std::string key, int64_t def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::integer, false, {}, std::move(doc)};
  f.default_value.i = def;
  return f;
}
FieldSpec float_field(std::string key, double def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::floating, false, {}, std::move(doc)};
  f.default_value.f = def;
  return f;
}
FieldSpec bool_field(std::string key, bool def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::boolean, false, {}, std::move(doc)};
  f.default_value.b = def;
  return f;
}
FieldSpec string_field(std::string key, std::string def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::string, false, {}, std::move(doc)};
  f.default_value.text = std::move(def);
  return f;
}
FieldSpec strings_field(std::string key, std::vector<std::string> def, std::string doc) {
  FieldSpec f{std::move(key), FieldType::string_list, false, {}, std::move(doc)};
  f.default_value.list = std::move(def);
  return f;
}
FieldSpec table_field(std::string key, std::string doc) {
  return FieldSpec{std::move(key), FieldType::table, false, {}, std::move(doc)};
}
FieldSpec required_field(std::string key, FieldType type, std::string doc) {
  return FieldSpec{std::move(key), type, true, {}, std::move(doc)};
}

Schema::Schema(std::vector<FieldSpec> fields) : fields_(std::move(fields)) {
  std::set<std::string> keys;
  for (const FieldSpec& f : fields_) {
    XOMNI_CHECK(!f.key.empty() && f.key.front() != '.' && f.key.back() != '.' &&
                    f.key.find("..") == std::string::npos,
                "Schema: invalid key '", f.key, "'");
    XOMNI_CHECK(keys.insert(f.key).second, "Schema: duplicate key '", f.key, "'");
  }
  for (const FieldSpec& f : fields_)
    XOMNI_CHECK(!is_section(f.key), "Schema: '", f.key,
                "' is both a field and a table of other fields");
}

const FieldSpec* Schema::find(std::string_view key) const {
  for (const FieldSpec& f : fields_)
    if (f.key == key) return &f;
  return nullptr;
}

bool Schema::is_section(std::string_view key) const {
  for (const FieldSpec& f : fields_)
    if (f.key.size() > key.size() && f.key.compare(0, key.size(), key) == 0 &&
        f.key[key.size()] == '.')
      return true;
  return false;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Schema::suggest(std::string_view key) const {
  // Candidates: every field key and every section name, in declaration order.
  std::vector<std::string> candidates;
  for (const FieldSpec& f : fields_) {
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', dot + 1))
      candidates.push_back(f.key.substr(0, dot));
    candidates.push_back(f.key);
  }
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;  // farther is no suggestion
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(key, c);
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

const Schema& lm_job_schema() {
  static const Schema schema({
      // run
      string_field("run.name", "run", "run name, used in the run directory"),
      string_field("run.dir", "runs", "folder that holds run directories"),
      int_field("run.seed", 0, "seed for initialisation and data order"),
      // model: a backbone plugin (Qwen2 architecture by default)
      string_field("model.backbone", "qwen2",
                   "backbone plugin: a name (libxomni_backbone_<name>.so) or a library path"),
      required_field("model.vocab_size", FieldType::integer, "vocabulary size"),
      // Field names of a Hugging Face Qwen2 config.json.
      int_field("model.hidden_size", 64, "model width"),
      int_field("model.intermediate_size", 176, "SwiGLU MLP width"),
      int_field("model.num_hidden_layers", 2, "decoder layers"),
      int_field("model.num_attention_heads", 4, "query heads"),
      int_field("model.num_key_value_heads", 2, "key/value heads (grouped-query attention)"),
      int_field("model.max_position_embeddings", 4096, "longest position"),
      float_field("model.rope_theta", 10000.0, "RoPE base"),
      float_field("model.rms_norm_eps", 1e-6, "RMSNorm epsilon"),
      bool_field("model.tie_word_embeddings", true, "share the input embedding with the LM head"),
      bool_field("model.checkpoint_layers", false,
                 "recompute each block's activations in backward"),
      // data
      string_field("data.train", "", "training token shards (path or glob)"),
      string_field("data.valid", "", "validation token shards"),
      int_field("data.eval_batches", 4, "validation micro-batches per evaluation"),
      // train
      required_field("train.steps", FieldType::integer, "optimizer steps"),
      int_field("train.batch_size", 8,
                "sequences per micro-batch, summed over the data-parallel ranks"),
      int_field("train.seq_len", 128, "tokens per sequence"),
      int_field("train.grad_accum", 1, "micro-batches per optimizer step"),
      float_field("train.grad_clip", 1.0, "global gradient-norm clip (0: off)"),
      int_field("train.log_every", 10, "steps between metric lines"),
      int_field("train.eval_every", 0, "steps between evaluations (0: off)"),
      int_field("train.checkpoint_every", 0, "steps between checkpoints (0: off)"),
      int_field("train.keep_checkpoints", 3, "checkpoints kept in the run directory"),
      // parallel layout (world = tp x cp x dp x pp)
      int_field("parallel.tp", 1, "tensor-parallel size"),
      int_field("parallel.cp", 1, "context-parallel size"),
      int_field("parallel.pp", 1, "pipeline-parallel size"),
      int_field("parallel.dp", 0, "data-parallel size (0: the world size / (tp*cp*pp))"),
      bool_field("parallel.sequence_parallel", false,
                 "split norm/residual activations along the sequence over the tp group"),
      bool_field("parallel.distributed_optimizer", false,
                 "ZeRO-1: shard optimizer state and update over the dp group"),
      float_field("parallel.bucket_mb", 25.0, "gradient all-reduce bucket size (MB)"),
      string_field("parallel.pp_layers", "",
                   "blocks per pipeline stage, e.g. \"3,5\" (empty: an even split)"),
      int_field("parallel.timeline_step", 0,
                "write each rank's pipeline schedule of this step to <run>/timeline/ (0: off)"),
      float_field("parallel.timeout_s", 600.0,
                  "seconds a rank waits in one communication before it stops the job"),
      // optimizer (AdamW)
      float_field("optimizer.learning_rate", 3e-4, "peak learning rate"),
      float_field("optimizer.beta1", 0.9, "AdamW beta1"),
      float_field("optimizer.beta2", 0.95, "AdamW beta2"),
      float_field("optimizer.eps", 1e-8, "AdamW epsilon"),
      float_field("optimizer.weight_decay", 0.1, "decoupled weight decay (decay group)"),
      strings_field("optimizer.no_decay", {"*.bias", "*norm*"},
                    "globs of parameter names without weight decay (1-D tensors always)"),
      float_field("optimizer.no_decay_lr_scale", 1.0, "learning-rate multiplier, no-decay group"),
      strings_field("optimizer.freeze", {}, "globs of parameter names to freeze"),
      // schedule
      string_field("schedule.kind", "cosine", "constant, cosine, linear or wsd"),
      int_field("schedule.warmup_steps", 0, "linear warmup steps"),
      float_field("schedule.min_lr", 0.0, "learning rate at the end of the decay"),
      float_field("schedule.decay_fraction", 0.1, "wsd: fraction of steps in the decay phase"),
      string_field("schedule.wsd_shape", "linear", "wsd decay shape: linear or cosine"),
  });
  return schema;
}

AdamWOptions adamw_options(const Config& c) {
  AdamWOptions o;
  o.lr = c.get_float("optimizer.learning_rate");
  o.beta1 = c.get_float("optimizer.beta1");
  o.beta2 = c.get_float("optimizer.beta2");
  o.eps = c.get_float("optimizer.eps");
  o.weight_decay = c.get_float("optimizer.weight_decay");
  o.no_decay = c.get_strings("optimizer.no_decay");
  o.no_decay_lr_scale = c.get_float("optimizer.no_decay_lr_scale");
  return o;
}

LrScheduleOptions lr_schedule_options(const Config& c) {
  LrScheduleOptions o;
  try {
    o.decay = parse_lr_decay(c.get_string("schedule.kind"));
    o.wsd_shape = parse_wsd_shape(c.get_string("schedule.wsd_shape"));
  } catch (const Error& e) {
    throw Error(c.source() + ": schedule: " + e.what());
  }
  o.lr = c.get_float("optimizer.learning_rate");
  o.min_lr = c.get_float("schedule.min_lr");
  o.warmup_steps = c.get_int("schedule.warmup_steps");
  o.total_steps = c.get_int("train.steps");
  o.decay_fraction = c.get_float("schedule.decay_fraction");
  return o;
}

}  // namespace xomni
