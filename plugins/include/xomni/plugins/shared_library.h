#pragma once
// Loading plugin shared libraries: dlopen with errors that name the file and say what to do, and
// the search path plugins are found on by name.
#include <memory>
#include <string>
#include <vector>

namespace xomni::plugins {

// A dlopen()ed library, closed on destruction (RTLD_NOW | RTLD_LOCAL: a plugin's missing symbols
// fail at load, and two plugins' private symbols cannot collide).
class SharedLibrary {
 public:
  // Throws naming the file and dlerror()'s reason (missing file, wrong architecture, unresolved
  // symbol in the plugin or its dependencies).
  explicit SharedLibrary(const std::string& path);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  const std::string& path() const { return path_; }
  // The address of `name`, or nullptr when the library does not export it.
  void* find(const std::string& name) const;
  // The address of `name`; throws naming the library and the symbol when absent.
  void* require(const std::string& name, const std::string& what) const;

 private:
  std::string path_;
  void* handle_ = nullptr;
};

// A folder plugins are looked up in by name.
struct PluginFolder {
  std::string path;    // absolute
  std::string origin;  // why it is searched: "from XOMNI_PLUGIN_PATH", "beside libxomni_plugins.so"
  bool exists = false;
};

// Folders searched for plugins by name, in order: each entry of $XOMNI_PLUGIN_PATH (':'-separated),
// then xomni/plugins beside the loaded libxomni_plugins.so: <prefix>/lib/xomni/plugins for an
// installed tree (wherever it was installed), <build>/lib/xomni/plugins when running from a build
// tree (the build lays out lib/ like an install). Nothing else, so an installed xomni never
// searches its build tree. Repeats are left out; folders that do not exist are kept, marked.
std::vector<PluginFolder> plugin_search_folders();
// The folders of plugin_search_folders() that exist.
std::vector<std::string> plugin_search_path();

// Whether a plugin value names a file rather than a plugin: it contains '/' ("./red.so",
// "build/libx.so") or ends in ".so" ("red.so"). Such a value is opened as given.
bool is_plugin_path(const std::string& name);

// The library file of a plugin named `name`: a path (is_plugin_path) is returned as it is;
// otherwise "libxomni_<prefix><name>.so" is looked up along plugin_search_path(), e.g.
// prefix "reward_" and name "ocr" -> libxomni_reward_ocr.so. Throws, listing the folders searched
// and how to add one or give a path, when nothing matches.
std::string find_plugin_library(const std::string& name, const std::string& prefix,
                                const std::string& what);

// Every "libxomni_*.so" file along the search path (the first of each file name wins).
std::vector<std::string> list_plugin_libraries();

}  // namespace xomni::plugins
