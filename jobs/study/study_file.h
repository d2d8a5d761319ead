#pragma once
// The study file (`xomni pipeline FILE.toml`, e.g. jobs/tiny/xomni.toml): which job file and
// settings each stage of the X-Omni recipe runs with, at which scale. Its shape:
//   [study]  name, root (the run root; relative to the file), scale, seed
//   [<stage>] job (a job file, relative to the study file), set = ["key=value", ...] (the job's
//             --set overrides), args = [...] (extra command-line arguments), and a few
//             stage-specific keys (study_stages.h)
//   [scales.<scale>.<stage>] the same keys for one scale: `set` adds to the stage's list (later
//             wins), every other key replaces; expect_s = seconds the stage is expected to take
//             there (for the ETA)
// Command-line overrides: study.name|root|scale|seed=VALUE, and STAGE.KEY=VALUE which adds
// KEY=VALUE to that stage's job overrides.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xomni::study {

// One stage's settings after the scale was applied.
struct StageSettings {
  std::string job;                // absolute path, "" when the stage has no job file
  std::vector<std::string> set;   // the job's --set overrides, in order
  std::vector<std::string> args;  // extra command-line arguments
  std::map<std::string, std::vector<std::string>> lists;  // stage-specific string lists
  std::map<std::string, std::string> values;              // stage-specific scalars, as text
  double expect_s = 0;                                    // 0: unknown
};

struct StudyFile {
  std::string path;  // the file as given
  std::string dir;   // its folder (absolute): what relative paths in it are relative to
  std::string name, root, scale;
  int64_t seed = 1;
  std::map<std::string, StageSettings> stages;  // by stage name; stages absent from the file
                                                // are absent here

  // The stage's settings; throws naming the file when the stage has none.
  const StageSettings& stage(const std::string& name) const;
  // The root of this seed's study: <root>/seed-<seed>.
  std::string seed_root() const;
};

// Reads and checks the file: unknown sections or keys, wrong types and an unknown scale are
// errors naming the file and the key. `stage_keys` names the stages a section may be for and the
// stage-specific keys each takes beside job, set, args and expect_s.
using StageKeys = std::map<std::string, std::vector<std::string>>;
StudyFile read_study_file(const std::string& path, const std::vector<std::string>& overrides,
                          const StageKeys& stage_keys);
// Same from text; `dir` is the folder relative paths are relative to.
StudyFile parse_study_file(const std::string& text, const std::string& source,
                           const std::string& dir, const std::vector<std::string>& overrides,
                           const StageKeys& stage_keys);

}  // namespace xomni::study
