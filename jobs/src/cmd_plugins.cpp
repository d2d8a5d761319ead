// xomni plugins: every libxomni_*.so on the plugin search path with its kind, name, version and
// file; a library that cannot be loaded is listed with the reason. Each library is loaded in a
// child process, so one that crashes or hangs while loading is named and listing goes on.
#include <cmath>
#include <cstdio>
#include <string>

#include "cli.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/plugin_probe.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::cli {
namespace {

constexpr double kDefaultTimeoutS = 10;

int run(std::vector<std::string> argv) {
  const double timeout_s =
      parse_number(take_option(argv, "--timeout"), "--timeout", kDefaultTimeoutS);
  // At most a day: the deadline is a steady_clock time point, which a huge value would overflow.
  XOMNI_CHECK(std::isfinite(timeout_s) && timeout_s > 0 && timeout_s <= 86400,
              "--timeout must be a number of seconds in (0, 86400], not ", timeout_s);
  XOMNI_CHECK(argv.empty(), "unexpected argument '", argv.empty() ? "" : argv[0], "'");
  std::printf("search path:\n");
  const std::vector<plugins::PluginFolder> folders = plugins::plugin_search_folders();
  for (const plugins::PluginFolder& f : folders)
    std::printf("  %s (%s%s)\n", f.path.c_str(), f.origin.c_str(),
                f.exists ? "" : ", does not exist");
  if (folders.empty()) std::printf("  (no plugin folder; set XOMNI_PLUGIN_PATH)\n");
  std::printf("\n%-16s %-20s %-10s %s\n", "KIND", "NAME", "VERSION", "FILE");
  for (const std::string& path : plugins::list_plugin_libraries()) {
    const plugins::PluginDescription r = plugins::probe_plugin_library(path, timeout_s);
    std::printf("%-16s %-20s %-10s %s\n", r.kind.c_str(), r.name.c_str(), r.version.c_str(),
                r.file.c_str());
    if (!r.note.empty()) std::printf("%-16s %s\n", "", r.note.c_str());
  }
  return 0;
}

const Register reg(
    {"plugins", "list the plugins found on the plugin search path",
     "usage: xomni plugins [--timeout SECONDS]\n\n"
     "Lists every libxomni_*.so on the plugin search path, with its kind (a component\n"
     "kind or 'reward'), name, version and file. The search path is each folder of\n"
     "$XOMNI_PLUGIN_PATH (':'-separated), then xomni/plugins beside the libxomni_plugins.so\n"
     "this xomni runs with (<prefix>/lib/xomni/plugins once installed, the build tree's\n"
     "lib/xomni/plugins in a build tree). Each library is loaded in a child process: one\n"
     "that cannot be loaded, crashes while loading, or is still loading after --timeout\n"
     "seconds (default 10) is listed with the reason, and listing goes on.",
     run});

}  // namespace
}  // namespace xomni::cli
