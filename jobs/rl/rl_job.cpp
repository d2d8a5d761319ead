// The GRPO job file: schema composition and parsing.
#include "rl/rl_job.h"

#include <algorithm>

#include "common/plugin_options.h"

namespace xomni::rl {
namespace {

constexpr const char* kBackboneKey = "model.backbone";

std::vector<FieldSpec> rl_fields() {
  return {
      string_field("rl.multimodal", "",
                   "multimodal.json of the model's data (\"\": the one beside the shards of "
                   "model.init_checkpoint's job)")
          .path(),
      string_field("rl.decoder", "", "diffusion decoder checkpoint (\"\": multimodal.json's)")
          .path(),
      string_field("rl.reference", "",
                   "frozen reference model for the KL term (\"\": model.init_checkpoint)")
          .path(),
      string_field("rl.rewards", "", "reward job file: the weighted reward plugins").path(),
      int_field("rl.reward_workers", 1,
                "worker processes that score rewards (0: threads in the trainer, only when every "
                "reward plugin is thread-safe)")
          .at_least(0),
      string_field("rl.prompts", "",
                   "prompt file (JSONL, as `xomni data prompts` writes); \"\": the world's "
                   "training prompts drawn from rl.prompt_seed")
          .path(),
      int_field("rl.prompt_seed", 1, "seed of the world's training prompts").at_least(0),
      int_field("rl.prompt_count", 4096, "how many world training prompts").at_least(1),
      float_field("rl.text_fraction", 0.0, "share of text-rendering prompts among the world's")
          .at_least(0)
          .at_most(1),
      int_field("rl.group_size", 8, "rollouts per prompt (G)").at_least(2),
      int_field("rl.updates_per_batch", 1, "optimizer steps on each rollout batch").at_least(1),
      string_field("rl.grid", "", "token grid HxW of the images (\"\": multimodal.json's first)"),
      float_field("rl.temperature", 1.0, "sampling temperature").greater_than(0),
      float_field("rl.top_p", 1.0, "nucleus sampling mass").greater_than(0).at_most(1),
      float_field("rl.min_p", 0.03, "min-p filter").at_least(0).less_than(1),
      int_field("rl.top_k", 0, "top-k filter (0: off)").at_least(0),
      int_field("rl.decoder_steps", 0, "decoder sampling steps (0: its default)").at_least(0),
      float_field("rl.clip_eps", 0.2, "PPO clip range of the ratio").greater_than(0).less_than(1),
      float_field("rl.kl_weight", 0.01, "weight of the k3 KL to the reference").at_least(0),
      float_field("rl.advantage_eps", 1e-6, "added to the group's std").greater_than(0),
      int_field("rl.image_every", 0, "write a PNG grid of rollouts every N steps (0: off)")
          .at_least(0),
  };
}

}  // namespace

Schema rl_job_schema(const std::string& backbone) {
  std::vector<FieldSpec> fields = {
      string_field(kBackboneKey, "xomni",
                   "policy backbone plugin: a name (libxomni_backbone_<name>.so) or a path")
          .plugin(),
  };
  for (FieldSpec& f : jobs::plugin_section_fields("backbone", backbone, "model"))
    fields.push_back(std::move(f));
  fields.push_back(string_field("model.init_checkpoint", "",
                                "the SFT checkpoint the policy starts from (required)")
                       .path());
  for (FieldSpec& f : rl_fields()) fields.push_back(std::move(f));
  std::vector<FieldSpec> common = train::stage_common_fields();
  const auto first_loop_field = std::find_if(
      common.begin(), common.end(), [](const FieldSpec& f) { return f.key.rfind("run.", 0) != 0; });
  common.insert(first_loop_field, fields.begin(), fields.end());
  return Schema(std::move(common));
}

Config parse_rl_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides, const std::string& base_dir) {
  const std::string backbone =
      jobs::peek_plugin(text, source, kBackboneKey, overrides, "xomni", base_dir);
  return Config::parse(text, source, rl_job_schema(backbone), overrides, base_dir);
}

Config load_rl_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_rl_config(Config::read_text(path), path, overrides, Config::folder_of(path));
}

RlJob parse_rl_job(const Config& c) {
  RlJob job;
  job.trainer = train::parse_trainer_options(c);
  job.model.backbone = c.get_string(kBackboneKey);
  job.model.where = c.source() + " [model]";
  job.model.settings_json = jobs::plugin_settings_json(c, "backbone", job.model.backbone, "model");
  job.model.dims = jobs::backbone_dims(job.model.settings_json, job.model.where);
  job.model.init_checkpoint = c.get_string("model.init_checkpoint");
  RlOptions& r = job.rl;
  r.multimodal = c.get_string("rl.multimodal");
  r.decoder = c.get_string("rl.decoder");
  r.reference = c.get_string("rl.reference");
  r.rewards = c.get_string("rl.rewards");
  r.reward_workers = c.get_int("rl.reward_workers");
  r.prompts = c.get_string("rl.prompts");
  r.prompt_seed = uint64_t(c.get_int("rl.prompt_seed"));
  r.prompt_count = c.get_int("rl.prompt_count");
  r.text_fraction = c.get_float("rl.text_fraction");
  r.group_size = c.get_int("rl.group_size");
  r.updates_per_batch = c.get_int("rl.updates_per_batch");
  r.grid = c.get_string("rl.grid");
  r.temperature = c.get_float("rl.temperature");
  r.top_p = c.get_float("rl.top_p");
  r.min_p = c.get_float("rl.min_p");
  r.top_k = c.get_int("rl.top_k");
  r.decoder_steps = c.get_int("rl.decoder_steps");
  r.clip_eps = c.get_float("rl.clip_eps");
  r.kl_weight = c.get_float("rl.kl_weight");
  r.advantage_eps = c.get_float("rl.advantage_eps");
  r.image_every = c.get_int("rl.image_every");
  const std::string& src = c.source();
  XOMNI_CHECK(c.get_string("run.stage") == "rl", src, ": run.stage = \"", c.get_string("run.stage"),
              "\"; a GRPO job says run.stage = \"rl\"");
  XOMNI_CHECK(!job.model.init_checkpoint.empty(), src,
              ": model.init_checkpoint is not set; GRPO starts from a trained model (the SFT "
              "stage's checkpoint)");
  XOMNI_CHECK(!r.rewards.empty(), src,
              ": rl.rewards is not set; name a reward job file (docs/PLUGINS.md, e.g. "
              "jobs/tiny/rewards_scene.toml)");
  const parallel::Layout& l = job.trainer.parallel.requested;
  XOMNI_CHECK(l.tp == 1 && l.cp == 1 && l.pp == 1, src,
              ": GRPO runs data-parallel only for now (parallel.tp, parallel.cp and parallel.pp "
              "must be 1; rollouts sample full rows of the image vocabulary on one rank)");
  XOMNI_CHECK(job.trainer.loop.checkpoint_every % r.updates_per_batch == 0, src,
              ": train.checkpoint_every = ", job.trainer.loop.checkpoint_every,
              " is not a multiple of rl.updates_per_batch = ", r.updates_per_batch,
              " (a checkpoint falls between rollout batches)");
  XOMNI_CHECK(job.trainer.loop.steps % r.updates_per_batch == 0, src,
              ": train.steps = ", job.trainer.loop.steps,
              " is not a multiple of rl.updates_per_batch = ", r.updates_per_batch,
              " (the run would end between the updates of a rollout batch)");
  return job;
}

}  // namespace xomni::rl
