#pragma once
// Runs a study's stages in order on one machine, each `xomni` command a child process whose
// output goes to <stage dir>/log.txt. A stage that finished (its stage.json says "done") is
// skipped; one that was interrupted runs again and its training resumes from its newest
// checkpoint. One progress line per stage with the study's ETA (from the scale's expect_s,
// corrected by the pace of the stages run so far); a summary at the end.
// SIGINT, SIGTERM and SIGHUP are passed on to the running command (a training stage saves a
// checkpoint and stops), after which the pipeline stops with 128 + the signal.
#include <string>

#include "study/study_file.h"

namespace xomni::study {

struct RunOptions {
  bool dry_run = false;  // print the commands, run nothing
  bool verbose = false;  // the commands' output on the terminal instead of the stage logs
  std::string exe;       // the xomni binary the commands run ("" for this process's own)
};

// 0 when every stage is done, 1 when one failed (its log's tail is printed), 128 + the signal
// when interrupted. Writes <seed root>/study.json after every stage.
int run_study(const StudyFile& study, const RunOptions& options);

}  // namespace xomni::study
