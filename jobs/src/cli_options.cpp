// Argument helpers shared by the subcommands.
#include <stdexcept>

#include "cli.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {

std::string take_option(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      XOMNI_CHECK(i + 1 < args.size(), flag, " needs a value");
      std::string v = args[i + 1];
      args.erase(args.begin() + long(i), args.begin() + long(i) + 2);
      return v;
    }
    if (args[i].rfind(flag + "=", 0) == 0) {
      std::string v = args[i].substr(flag.size() + 1);
      args.erase(args.begin() + long(i));
      return v;
    }
  }
  return "";
}

std::vector<std::string> take_all(std::vector<std::string>& args, const std::string& flag) {
  std::vector<std::string> out;
  for (std::string v = take_option(args, flag); !v.empty(); v = take_option(args, flag))
    out.push_back(v);
  return out;
}

bool take_flag(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == flag) {
      args.erase(args.begin() + long(i));
      return true;
    }
  return false;
}

double parse_number(const std::string& text, const char* flag, double fallback) {
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::logic_error&) {
  }
  throw Error(std::string(flag) + ": '" + text + "' is not a number");
}

int64_t parse_int(const std::string& text, const char* flag, int64_t fallback, int64_t min,
                  int64_t max) {
  if (text.empty()) return fallback;
  int64_t v = 0;
  bool whole = false;
  try {
    size_t used = 0;
    v = std::stoll(text, &used);
    whole = used == text.size();
  } catch (const std::logic_error&) {
  }
  XOMNI_CHECK(whole, flag, ": '", text, "' is not an integer");
  XOMNI_CHECK(v >= min && v <= max, flag, " must be in [", min, ", ", max, "], got ", v);
  return v;
}

}  // namespace xomni::cli
