#include "xomni/plugins/shared_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "xomni/core/tensor/error.h"

namespace xomni::plugins {
namespace fs = std::filesystem;

SharedLibrary::SharedLibrary(const std::string& path) : path_(path) {
  XOMNI_CHECK(fs::exists(path), "plugin library ", path,
              " does not exist; check the path in the job file or build the plugin");
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = dlerror();
    throw Error("cannot load plugin library " + path + ": " + (why ? why : "unknown error") +
                " (was it built for this xomni and this machine?)");
  }
}

SharedLibrary::~SharedLibrary() {
  if (handle_) dlclose(handle_);
}

void* SharedLibrary::find(const std::string& name) const {
  dlerror();
  return dlsym(handle_, name.c_str());
}

void* SharedLibrary::require(const std::string& name, const std::string& what) const {
  void* p = find(name);
  XOMNI_CHECK(p, "plugin library ", path_, " does not export ", name, ", so it is not ", what,
              " (a plugin must define it with extern \"C\" and default visibility)");
  return p;
}

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  auto add = [&](const std::string& d) {
    if (d.empty() || !fs::is_directory(d)) return;
    const std::string abs = fs::absolute(d).lexically_normal();
    if (std::find(dirs.begin(), dirs.end(), abs) == dirs.end()) dirs.push_back(abs);
  };
  if (const char* env = std::getenv("XOMNI_PLUGIN_PATH")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t colon = list.find(':', start);
      add(list.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  // An installed libxomni_plugins.so finds the plugins installed next to it even when the tree
  // was installed with `cmake --install --prefix` elsewhere than CMAKE_INSTALL_PREFIX.
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&plugin_search_path), &self) && self.dli_fname)
    add((fs::path(self.dli_fname).parent_path() / "xomni" / "plugins").string());
  add(XOMNI_BUILD_PLUGIN_DIR);
  add(XOMNI_INSTALL_PLUGIN_DIR);
  return dirs;
}

std::string find_plugin_library(const std::string& name, const std::string& prefix,
                                const std::string& what) {
  XOMNI_CHECK(!name.empty(), "no ", what, " plugin named: the name is empty");
  const bool is_path = name.find('/') != std::string::npos ||
                       (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0);
  if (is_path) return name;
  const std::string file = "libxomni_" + prefix + name + ".so";
  const std::vector<std::string> dirs = plugin_search_path();
  for (const std::string& d : dirs)
    if (fs::exists(fs::path(d) / file)) return (fs::path(d) / file).string();
  std::string searched;
  for (const std::string& d : dirs) searched += "\n  " + d;
  if (searched.empty()) searched = "\n  (no plugin folder exists)";
  throw Error("no " + what + " plugin named '" + name + "': " + file + " is not in" + searched +
              "\nadd its folder to XOMNI_PLUGIN_PATH or give the library's path");
}

std::vector<std::string> list_plugin_libraries() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& d : plugin_search_path()) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(d)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      const std::string n = f.filename().string();
      if (n.rfind("libxomni_", 0) != 0 || f.extension() != ".so" || !seen.insert(n).second)
        continue;
      out.push_back(f.string());
    }
  }
  return out;
}

}  // namespace xomni::plugins
