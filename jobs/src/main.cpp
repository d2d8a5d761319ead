// xomni <command> [args]: one binary for every stage and tool.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli.h"
#include "xomni/core/config/config.h"
#include "xomni/core/ops/blas_info.h"
#include "xomni/core/tensor/error.h"
#include "xomni/parallel/comm.h"

#ifndef XOMNI_GIT_DESCRIBE  // set by jobs/CMakeLists.txt
#define XOMNI_GIT_DESCRIBE ""
#endif

namespace xomni::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

}  // namespace xomni::cli

namespace {
void print_help() {
  std::printf("usage: xomni <command> [args...]   (xomni --version: the build)\n\ncommands:\n");
  for (const auto& c : xomni::cli::registry())
    std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("\n`xomni <command> --help` describes one command.\n");
}
// The version CMake configured (the project's, and `git describe` of the checkout when there was
// one), and the OpenBLAS kernel set this process loaded.
void print_version() {
  const std::string git = XOMNI_GIT_DESCRIBE;
  std::printf("xomni %s%s\n", XOMNI_VERSION_STRING,
              git.empty() ? "" : (" (git " + git + ")").c_str());
  std::printf("OpenBLAS kernels: %s\n", xomni::blas_core_name().c_str());
}

// The registered command nearest to a mistyped one, or "" when none is close.
std::string nearest_command(const std::string& typed) {
  std::string best;
  size_t best_d = std::max<size_t>(2, typed.size() / 3) + 1;  // farther is no suggestion
  for (const auto& c : xomni::cli::registry()) {
    const size_t d = xomni::edit_distance(typed, c.name);
    if (d < best_d) best = c.name, best_d = d;
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  // Before anything runs: OpenBLAS's generic kernels make every f32 GEMM ~10x slower.
  xomni::restart_with_fast_blas_kernels(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "-V" || args[0] == "version") {
    print_version();
    return 0;
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
  const std::string near = nearest_command(args[0]);
  std::fprintf(stderr, "xomni: unknown command '%s'%s\n\n", args[0].c_str(),
               near.empty() ? "" : ("; did you mean '" + near + "'?").c_str());
  print_help();
  return 2;
}
