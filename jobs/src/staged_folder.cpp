#include "staged_folder.h"

#include <unistd.h>

#include <filesystem>

#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace fs = std::filesystem;

namespace {
// `<target>.<what>-<pid>` beside the target (same file system, so renames are atomic).
std::string sibling(const std::string& target, const char* what) {
  fs::path t = fs::path(target).lexically_normal();
  if (t.filename().empty()) t = t.parent_path();
  return t.string() + "." + what + "-" + std::to_string(::getpid());
}
}  // namespace

StagedFolder::StagedFolder(const std::string& target, bool overwrite, const std::string& flag)
    : target_(target), staging_(sibling(target, "staging")) {
  std::error_code ec;
  if (fs::exists(target, ec)) {
    XOMNI_CHECK(fs::is_directory(target, ec), target, " exists and is not a folder");
    XOMNI_CHECK(overwrite || fs::is_empty(target, ec), target, " is not empty; give ", flag,
                " to replace it (it is replaced only once the new ", "data is complete)");
  }
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  XOMNI_CHECK(!ec, "cannot create ", staging_, ": ", ec.message());
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  std::error_code ec;
  const std::string old = sibling(target_, "replaced");
  const bool had_target = fs::exists(target_, ec);
  if (had_target) {
    fs::rename(target_, old, ec);
    XOMNI_CHECK(!ec, "cannot move the old ", target_, " aside: ", ec.message(),
                "; the new data is in ", staging_);
  }
  fs::rename(staging_, target_, ec);
  if (ec) {
    std::error_code back;
    if (had_target) fs::rename(old, target_, back);
    throw Error("cannot move " + staging_ + " to " + target_ + ": " + ec.message());
  }
  committed_ = true;
  if (had_target) fs::remove_all(old, ec);
}

}  // namespace xomni::cli
