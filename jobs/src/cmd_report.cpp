// xomni report scaling|run|study: summaries of training runs and of the X-Omni study (tables and
// PNG charts). This file holds the dispatch and what they share; the subcommands are
// cmd_report_scaling.cpp, cmd_report_run.cpp and cmd_report_study*.cpp.
#include "cmd_report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cli.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {

std::map<std::string, std::string> read_env(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

double json_number(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return std::nan("");
  const char* start = line.c_str() + at + needle.size();
  char* end = nullptr;
  const double v = std::strtod(start, &end);
  return end == start ? std::nan("") : v;
}

double median(std::vector<double> v) {
  XOMNI_CHECK(!v.empty(), "median of no values");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

namespace {

int dispatch(const std::vector<std::string>& argv) {
  XOMNI_CHECK(!argv.empty(),
              "report: expected 'xomni report scaling RUN_DIR...', 'xomni report run RUN_DIR' or "
              "'xomni report study RUN_ROOT --out DIR' (see xomni report --help)");
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "scaling") return scaling(rest);
  if (argv[0] == "run") return run(rest);
  if (argv[0] == "study") return study(rest);
  XOMNI_CHECK(false, "report: unknown report '", argv[0],
              "'; the reports are 'scaling' (a sweep's throughput, efficiency, MFU), 'run' (one "
              "run's loss, learning rate, gradient norm and throughput) and 'study' (the X-Omni "
              "study's report from a pipeline run root)");
  return 2;
}

const Register reg({"report",
                    "summarise runs: `report run` (one run's curves), `report scaling` (a sweep), "
                    "`report study` (the X-Omni study)",
                    std::string(kRunUsage) + "\n\n" + kScalingUsage + "\n\n" + kStudyUsage,
                    dispatch});

}  // namespace
}  // namespace xomni::cli::report
