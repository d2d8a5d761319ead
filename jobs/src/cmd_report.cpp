// xomni report scaling|run: summaries of training runs (tables and PNG charts). This file holds the
// dispatch and what both read; the subcommands are cmd_report_scaling.cpp and cmd_report_run.cpp.
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
              "report: expected 'xomni report scaling RUN_DIR...' or 'xomni report run RUN_DIR' "
              "(see xomni report --help)");
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "scaling") return scaling(rest);
  if (argv[0] == "run") return run(rest);
  XOMNI_CHECK(false, "report: unknown report '", argv[0],
              "'; the reports are 'scaling' (a sweep's throughput, efficiency, MFU) and 'run' (one "
              "run's loss, learning rate, gradient norm and throughput)");
  return 2;
}

const Register reg({"report",
                    "summarise runs: `report run` (one run's curves), `report scaling` (a sweep)",
                    std::string(kRunUsage) + "\n\n" + kScalingUsage, dispatch});

}  // namespace
}  // namespace xomni::cli::report
