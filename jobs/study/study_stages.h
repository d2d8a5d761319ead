#pragma once
// The X-Omni recipe as the pipeline runs it: the stages in order and, for each, the `xomni`
// commands that make its folder under the study's seed root from the folders before it.
//   prompts   data prompts: the world's evaluation sets and a training pool
//   synth     data synth: training and validation scenes
//   siglip, vq, decoder   the image codec's three training stages
//   codec-eval            xomni image eval of the trained codec on the validation scenes
//   tokenizer data mm-tokenizer: the text tokenizer with the multimodal special tokens
//   mmdata    data mm-pack: the token shards of every model stage, through the frozen vq tokenizer
//   lm0, s1, s2, s3, sft  the text LM, then the X-Omni stages, each from the previous weights
//   realism   data realism + the realism scorer's training (a learned reward)
//   bon       the SFT model's best-of-N levels on the RL reward
//   rl        GRPO from sft
//   eval-s2, eval-sft, eval-rl   xomni eval on the evaluation prompt sets
//   report    xomni report study over every seed of the study root
// A stage runs when the study file has a section for it.
#include <string>
#include <vector>

#include "study/study_file.h"

namespace xomni::study {

struct StageInfo {
  std::string name;
  std::string kind;         // "data", "train", "eval" or "report"
  bool always_run = false;  // rerun even when done (the report: other seeds may have finished)
  std::string summary;      // one line for the progress and `--dry-run`
};

// Every stage of the recipe, in order.
const std::vector<StageInfo>& recipe();
// What read_study_file needs: every stage and its stage-specific keys.
StageKeys recipe_stage_keys();
// The stages the study runs: the recipe's stages that have a section in the file, in order.
std::vector<StageInfo> planned_stages(const StudyFile& study);

// The folder of a stage under the seed root.
std::string stage_dir(const StudyFile& study, const std::string& stage);
// The newest checkpoint (highest step) in <stage dir>/checkpoints; "" when none.
std::string final_checkpoint(const StudyFile& study, const std::string& stage);

// The `xomni` argument lists that make `stage`, in order. Earlier stages' final checkpoints are
// looked up now, so call it when they are done; with `dry_run` a missing one is written as
// <final checkpoint of STAGE> instead of being an error.
std::vector<std::vector<std::string>> stage_commands(const StudyFile& study,
                                                     const std::string& stage, bool dry_run);

}  // namespace xomni::study
