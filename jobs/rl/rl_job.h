#pragma once
// The GRPO stage's job file: the shared trainer sections, [model] (the policy: the backbone
// plugin's fields and the SFT checkpoint it starts from) and [rl] (prompts, rollouts, decoding,
// rewards and the update). docs/RL.md lists every key.
#include <cstdint>
#include <string>
#include <vector>

#include "lm/lm_job.h"
#include "train/options.h"
#include "xomni/core/config/config.h"

namespace xomni::rl {

struct RlOptions {
  // Where the pieces come from.
  std::string multimodal;      // multimodal.json ("": the one beside the init checkpoint's shards)
  std::string decoder;         // decoder checkpoint ("": multimodal.json's)
  std::string reference;       // frozen KL reference ("": model.init_checkpoint, the SFT model)
  std::string rewards;         // reward job file (RewardSet TOML)
  int64_t reward_workers = 1;  // worker processes scoring rewards (0: in-process threads)
  // The prompt pool: a JSONL prompt file, or the world's training prompts.
  std::string prompts;
  uint64_t prompt_seed = 1;
  int64_t prompt_count = 4096;
  double text_fraction = 0.0;
  // Rollouts: train.batch_size prompts per rollout round (over every data-parallel rank), each
  // with group_size samples; updates_per_batch optimizer steps on each round.
  int64_t group_size = 8;
  int64_t updates_per_batch = 1;
  std::string grid;  // "HxW" ("": multimodal.json's first grid)
  double temperature = 1.0, top_p = 1.0, min_p = 0.03;
  int64_t top_k = 0;
  int64_t decoder_steps = 0;  // 0: the decoder's default
  // The update.
  double clip_eps = 0.2;
  double kl_weight = 0.01;
  double advantage_eps = 1e-6;
  int64_t image_every = 0;  // a PNG grid of rollouts every N steps (0: off)
};

struct RlJob {
  train::TrainerOptions trainer;
  train::LmModelOptions model;
  RlOptions rl;
};

Schema rl_job_schema(const std::string& backbone = "xomni");
Config load_rl_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text (a checkpoint's saved job); `source` names it in errors.
Config parse_rl_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides = {},
                       const std::string& base_dir = "");
RlJob parse_rl_job(const Config& config);

}  // namespace xomni::rl
