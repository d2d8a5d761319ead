// xomni pipeline: the whole X-Omni study on one machine, every stage in order (jobs/study/).
#include <cstdio>

#include "cli.h"
#include "study/study_file.h"
#include "study/study_runner.h"
#include "study/study_stages.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::vector<std::string> sets = take_all(args, "--set");
  study::RunOptions o;
  o.dry_run = take_flag(args, "--dry-run");
  o.verbose = take_flag(args, "--verbose");
  XOMNI_CHECK(args.size() == 1,
              args.empty() ? "give the study file (e.g. jobs/tiny/xomni.toml)"
                           : "unexpected argument '" + args[1] + "'",
              " (see xomni pipeline --help)");
  const study::StudyFile s = study::read_study_file(args[0], sets, study::recipe_stage_keys());
  return study::run_study(s, o);
}

const Register reg(
    {"pipeline", "the whole X-Omni study on one machine: every stage in order, resumable",
     "usage: xomni pipeline STUDY.toml [--set study.scale=smoke|default|full] [--set "
     "KEY=VALUE]...\n"
     "                      [--dry-run] [--verbose]\n\n"
     "Runs the stages of the X-Omni recipe that the study file has a section for, in order:\n"
     "prompts, synth, siglip, vq, decoder, codec-eval, tokenizer, mmdata, lm0, s1, s2, s3, sft,\n"
     "realism, bon, rl, eval-s2, eval-sft, eval-rl, report. Each stage's output is a folder under\n"
     "<study.root>/seed-<study.seed>/ with its log (log.txt) and stage.json; the report\n"
     "stage writes <study.root>/report over every seed there. A finished stage is skipped\n"
     "(refused when its settings changed since); an interrupted one runs again and its\n"
     "training resumes from its newest checkpoint. SIGINT/SIGTERM reach the running stage,\n"
     "which saves a checkpoint and stops; rerun the same command to resume.\n\n"
     "--set study.name|root|scale|seed=VALUE changes the [study] table (a relative root is\n"
     "relative to the working directory); --set STAGE.KEY=VALUE adds KEY=VALUE to that\n"
     "stage's job overrides (e.g. --set rl.train.steps=20). --dry-run prints every command.\n"
     "--verbose shows the stages' output instead of writing it to their logs. See\n"
     "docs/STUDY.md.",
     run});

}  // namespace
}  // namespace xomni::cli
