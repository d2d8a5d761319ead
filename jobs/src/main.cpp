// xomni <command> [args]: one binary for every stage and tool.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli.h"
#include "xomni/core/tensor/error.h"
#include "xomni/parallel/comm.h"

namespace xomni::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace xomni::cli

namespace {
void print_help() {
  std::printf("usage: xomni <command> [args...]\n\ncommands:\n");
  for (const auto& c : xomni::cli::registry())
    std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("\n`xomni <command> --help` describes one command.\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  for (const auto& c : xomni::cli::registry()) {
    if (c.name != args[0]) continue;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (xomni::cli::take_flag(rest, "--help") || xomni::cli::take_flag(rest, "-h")) {
      std::printf("%s\n", c.usage.c_str());
      return 0;
    }
    try {
      return c.run(rest);
    } catch (const std::exception& e) {
      const std::string message = "xomni " + c.name + ": error: " + e.what();
      // In a multi-rank job the other ranks would wait for this one until their timeout.
      if (xomni::parallel::world_size() > 1) xomni::parallel::abort_job(message);
      std::fprintf(stderr, "%s\n", message.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "xomni: unknown command '%s'\n\n", args[0].c_str());
  print_help();
  return 2;
}
