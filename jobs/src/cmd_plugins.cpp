// xomni plugins: every libxomni_*.so on the plugin search path with its kind, name, version and
// file; a library that cannot be loaded is listed with the reason.
#include <cstdio>
#include <string>

#include "cli.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/reward_plugin.h"
#include "xomni/plugins/shared_library.h"

namespace xomni::cli {
namespace {

struct Row {
  std::string kind, name, version, file, note;
};

Row describe(const std::string& path) {
  Row row{"?", "?", "?", path, ""};
  try {
    auto lib = std::make_unique<plugins::SharedLibrary>(path);
    if (void* sym = lib->find(XOMNI_COMPONENT_ENTRY)) {
      const XomniComponentPlugin* c = reinterpret_cast<XomniComponentEntry>(sym)();
      XOMNI_CHECK(c, XOMNI_COMPONENT_ENTRY, "() returned NULL");
      row.kind = c->kind ? c->kind : "?";
      row.name = c->name ? c->name : "?";
      row.version = c->version ? c->version : "?";
      if (c->abi_version != XOMNI_COMPONENT_ABI_VERSION)
        row.note = "unusable: component ABI version " + std::to_string(c->abi_version) +
                   ", this xomni uses " + std::to_string(XOMNI_COMPONENT_ABI_VERSION) +
                   "; rebuild it";
      else if (!c->build_fingerprint ||
               std::string(c->build_fingerprint) != XOMNI_BUILD_FINGERPRINT)
        row.note = std::string("unusable: built with ") +
                   (c->build_fingerprint ? c->build_fingerprint : "?") + ", this xomni is " +
                   XOMNI_BUILD_FINGERPRINT + "; rebuild it";
    } else if (lib->find(XOMNI_REWARD_ENTRY)) {
      const plugins::RewardPlugin reward(std::move(lib));  // checks the ABI version and fields
      row.kind = "reward";
      row.name = reward.name();
      row.version = reward.version();
      row.note = reward.description();
    } else {
      row.note = std::string("not a plugin: exports neither ") + XOMNI_COMPONENT_ENTRY + " nor " +
                 XOMNI_REWARD_ENTRY;
    }
  } catch (const std::exception& e) {
    row.note = std::string("cannot load: ") + e.what();
  }
  return row;
}

int run(const std::vector<std::string>& argv) {
  XOMNI_CHECK(argv.empty(), "unexpected argument '", argv.empty() ? "" : argv[0], "'");
  std::printf("search path:\n");
  const std::vector<std::string> dirs = plugins::plugin_search_path();
  for (const std::string& d : dirs) std::printf("  %s\n", d.c_str());
  if (dirs.empty()) std::printf("  (no plugin folder exists; set XOMNI_PLUGIN_PATH)\n");
  std::printf("\n%-16s %-20s %-10s %s\n", "KIND", "NAME", "VERSION", "FILE");
  for (const std::string& path : plugins::list_plugin_libraries()) {
    const Row r = describe(path);
    std::printf("%-16s %-20s %-10s %s\n", r.kind.c_str(), r.name.c_str(), r.version.c_str(),
                r.file.c_str());
    if (!r.note.empty()) std::printf("%-16s %s\n", "", r.note.c_str());
  }
  return 0;
}

const Register reg(
    {"plugins", "list the plugins found on the plugin search path",
     "usage: xomni plugins\n\n"
     "Lists every libxomni_*.so in $XOMNI_PLUGIN_PATH (':'-separated), the build\n"
     "tree's plugin folder and the install prefix's lib/xomni/plugins, with its kind\n"
     "(a component kind or 'reward'), name, version and file. A library that cannot\n"
     "be loaded is listed with the reason.",
     run});

}  // namespace
}  // namespace xomni::cli
