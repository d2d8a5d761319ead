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

// Folders searched for plugins by name, in order: each entry of $XOMNI_PLUGIN_PATH (':'-separated),
// xomni/plugins next to the loaded libxomni_plugins.so (an installed tree, wherever it was
// installed), the plugin folder of this build tree (where the built-in plugins are built), and the
// install prefix's lib/xomni/plugins. Folders that do not exist, and repeats, are left out.
std::vector<std::string> plugin_search_path();

// The library file of a plugin named `name`: a path (containing '/' or ending in ".so") is used
// as it is; otherwise "libxomni_<prefix><name>.so" is looked up along plugin_search_path(), e.g.
// prefix "reward_" and name "ocr" -> libxomni_reward_ocr.so. Throws, listing the folders searched
// and how to add one, when nothing matches.
std::string find_plugin_library(const std::string& name, const std::string& prefix,
                                const std::string& what);

// Every "libxomni_*.so" file along the search path (the first of each file name wins).
std::vector<std::string> list_plugin_libraries();

}  // namespace xomni::plugins
