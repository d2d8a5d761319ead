#pragma once
// Subcommands of the `xomni` CLI register themselves here; main() dispatches by name.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace xomni::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `xomni --help`
  std::string usage;    // full text for `xomni <name> --help`
  std::function<int(const std::vector<std::string>& args)> run;
};

std::vector<Command>& registry();

struct Register {
  explicit Register(Command c) { registry().push_back(std::move(c)); }
};

// Value of `--flag VALUE` or `--flag=VALUE` in args, removing it; empty when absent.
std::string take_option(std::vector<std::string>& args, const std::string& flag);
bool take_flag(std::vector<std::string>& args, const std::string& flag);
// Every value of a repeatable `--flag VALUE` in order, removing them.
std::vector<std::string> take_all(std::vector<std::string>& args, const std::string& flag);
// `text` as a number (`fallback` when empty); throws naming `flag` when it is not one.
double parse_number(const std::string& text, const char* flag, double fallback);
// `text` as a whole integer in [min, max] (`fallback` when empty); throws naming `flag` and the
// range otherwise (no silent truncation of "3.5", "12abc" or out-of-range values).
int64_t parse_int(const std::string& text, const char* flag, int64_t fallback, int64_t min,
                  int64_t max = INT64_MAX);

}  // namespace xomni::cli
