#pragma once
// `xomni report`: the subcommands (cmd_report_scaling.cpp, cmd_report_run.cpp,
// cmd_report_study.cpp) and what they
// share for reading run directories.
#include <map>
#include <string>
#include <vector>

namespace xomni::cli::report {

// `xomni report scaling RUN_DIR...`, `xomni report run RUN_DIR` and `xomni report study RUN_ROOT`
// (args after the subcommand; the study's files are cmd_report_study*.cpp).
int scaling(std::vector<std::string> args);
int run(std::vector<std::string> args);
int study(std::vector<std::string> args);
extern const char* const kScalingUsage;
extern const char* const kRunUsage;
extern const char* const kStudyUsage;

// KEY=VALUE lines of a file (launch.env); empty when the file does not exist.
std::map<std::string, std::string> read_env(const std::string& path);
// The number after `"key": ` in a metrics.jsonl line; NaN when the key is absent.
double json_number(const std::string& line, const std::string& key);
// The median of v (not empty).
double median(std::vector<double> v);

}  // namespace xomni::cli::report
