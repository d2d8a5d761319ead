#pragma once
// What a plugin library on disk is (kind, name, version), or why it cannot be used. Listing reads
// every libxomni_*.so on the search path, and one of them may be anything: a library whose
// constructor crashes or hangs would take the lister down with it, so probe_plugin_library()
// loads it in a forked child and only the answer comes back.
#include <string>

namespace xomni::plugins {

struct PluginDescription {
  std::string kind = "?";  // a component kind ("backbone", ...) or "reward"
  std::string name = "?";
  std::string version = "?";
  std::string file;  // the library's path, as given
  std::string note;  // why it is unusable, or a reward's description; empty when neither
};

// Loads `path` in this process and reads its entry point (component or reward); every failure
// that throws (missing file, unresolved symbol, no entry point, another ABI version or build
// fingerprint) is returned as the note. A crash in the library's constructors crashes the caller.
PluginDescription describe_plugin_library(const std::string& path);

// describe_plugin_library() in a forked child, the answer sent back over a pipe. A child that
// dies by a signal is reported as "<path>: crashed while loading (signal N, ...)", one that has
// not answered after `timeout_s` seconds is killed and reported as still loading, one that exits
// without answering with its exit status. Never throws for anything the library does. It forks,
// so call it from a command that has not started MPI (Open MPI warns about fork()), as
// `xomni plugins` does; a child that deadlocks on a lock another thread held at fork() time is
// caught by the timeout like any hang.
PluginDescription probe_plugin_library(const std::string& path, double timeout_s);

}  // namespace xomni::plugins
