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
  // A relative path is named with the absolute one it stands for, so the user sees where it
  // was looked for.
  const std::string looked_at = fs::path(path).is_relative()
                                    ? " (" + fs::absolute(path).lexically_normal().string() + ")"
                                    : "";
  XOMNI_CHECK(fs::exists(path), "plugin library ", path, looked_at,
              " does not exist; check the path in the job file or build the plugin");
  // dlopen() searches LD_LIBRARY_PATH and the system folders for a name without '/', never the
  // working directory: "red.so" must be opened as "./red.so" to be the file that was checked.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  handle_ = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
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

std::vector<PluginFolder> plugin_search_folders() {
  std::vector<PluginFolder> folders;
  auto add = [&](const std::string& d, const char* origin) {
    if (d.empty()) return;
    fs::path p = fs::absolute(d).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();  // "/opt/p/" and "/opt/p" are one folder
    const std::string abs = p.string();
    for (const PluginFolder& f : folders)
      if (f.path == abs) return;
    folders.push_back({abs, origin, fs::is_directory(abs)});
  };
  if (const char* env = std::getenv("XOMNI_PLUGIN_PATH")) {
    const std::string list = env;
    size_t start = 0;
    for (;;) {
      const size_t colon = list.find(':', start);
      add(list.substr(start, colon == std::string::npos ? std::string::npos : colon - start),
          "from XOMNI_PLUGIN_PATH");
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  // xomni/plugins beside this libxomni_plugins.so: <prefix>/lib/xomni/plugins once installed
  // (wherever the tree was installed), <build>/lib/xomni/plugins in a build tree, which lays the
  // library and the plugins out the same way. No absolute path is compiled in, so an installed
  // xomni never looks into the build tree it came from.
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&plugin_search_folders), &self) && self.dli_fname)
    add((fs::path(self.dli_fname).parent_path() / "xomni" / "plugins").string(),
        "beside libxomni_plugins.so");
  return folders;
}

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  for (const PluginFolder& f : plugin_search_folders())
    if (f.exists) dirs.push_back(f.path);
  return dirs;
}

bool is_plugin_path(const std::string& name) {
  return name.find('/') != std::string::npos ||
         (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0);
}

std::string find_plugin_library(const std::string& name, const std::string& prefix,
                                const std::string& what) {
  XOMNI_CHECK(!name.empty(), "no ", what, " plugin named: the name is empty");
  if (is_plugin_path(name)) return name;
  const std::string file = "libxomni_" + prefix + name + ".so";
  const std::vector<PluginFolder> folders = plugin_search_folders();
  for (const PluginFolder& f : folders)
    if (f.exists && fs::exists(fs::path(f.path) / file)) return (fs::path(f.path) / file).string();
  std::string searched;
  for (const PluginFolder& f : folders)
    searched += "\n  " + f.path + " (" + f.origin + (f.exists ? "" : ", does not exist") + ")";
  if (searched.empty()) searched = "\n  (no folder: XOMNI_PLUGIN_PATH is empty)";
  throw Error("no " + what + " plugin named '" + name + "': " + file + " is not in" + searched +
              "\nput it in one of these folders, add its folder to XOMNI_PLUGIN_PATH "
              "(':'-separated, searched first), or give its path instead of a name: a value "
              "containing '/' or ending in \".so\" is opened as a path, e.g. \"./" +
              file + "\" (in a job file, relative to the job file's folder)");
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
