// Checkpoint directories: naming, listing, choosing the newest valid file, keep-last-K pruning.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "io/hdf5.h"

namespace xomni {

namespace fs = std::filesystem;

namespace {
constexpr const char* kPrefix = "ckpt-";
constexpr const char* kSuffix = ".h5";

// The step of a file named exactly as checkpoint_path() names it, or -1.
int64_t step_of(const std::string& file_name) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (file_name.size() < prefix.size() + 8 + suffix.size()) return -1;
  if (file_name.compare(0, prefix.size(), prefix) != 0) return -1;
  if (file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) return -1;
  const std::string digits =
      file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18) return -1;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  const int64_t step = std::stoll(digits);
  // Only the canonical spelling (no extra leading zeros beyond the 8-digit padding).
  if (fs::path(checkpoint_path("", step)).filename().string() != file_name) return -1;
  return step;
}

void default_warning(const std::string& msg) {
  std::cerr << "xomni: warning: " << msg << "\n";
}
}  // namespace

std::string checkpoint_path(const std::string& dir, int64_t step) {
  XOMNI_CHECK(step >= 0, "checkpoint_path: step must be >= 0, got ", step);
  char name[64];
  std::snprintf(name, sizeof name, "%s%08lld%s", kPrefix, static_cast<long long>(step), kSuffix);
  return dir.empty() ? std::string(name) : (fs::path(dir) / name).string();
}

std::vector<CheckpointFile> list_checkpoints(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  XOMNI_CHECK(fs::is_directory(dir, ec), "list_checkpoints: ", dir, " is not a directory");
  std::vector<CheckpointFile> out;
  fs::directory_iterator it(dir, ec);
  XOMNI_CHECK(!ec, "list_checkpoints: cannot read directory ", dir, ": ", ec.message());
  for (const fs::directory_entry& e : it) {
    const int64_t step = step_of(e.path().filename().string());
    if (step >= 0 && e.is_regular_file(ec)) out.push_back({e.path().string(), step});
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.step < b.step; });
  return out;
}

std::string checkpoint_problem(const std::string& path, CheckpointVerify verify) {
  try {
    CheckpointReader reader(path, verify);
    const int64_t named = step_of(fs::path(path).filename().string());
    if (named >= 0 && named != reader.step())
      return "checkpoint " + path + " holds step " + std::to_string(reader.step()) +
             ", not the step in its name";
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

namespace {
// Index into `files` of the newest valid one before step `before`, or -1; warns about each newer
// invalid one.
int64_t newest_valid(const std::vector<CheckpointFile>& files, const CheckpointWarning& warn,
                     int64_t before) {
  int64_t i = int64_t(files.size()) - 1;
  while (i >= 0 && files[size_t(i)].step >= before) --i;
  for (; i >= 0; --i) {
    const std::string why = checkpoint_problem(files[size_t(i)].path);
    if (why.empty()) return i;
    const std::string msg = "skipping checkpoint " + files[size_t(i)].path + ": " + why +
                            (i > 0 ? "; trying the previous one" : "; no older checkpoint left");
    (warn ? warn : default_warning)(msg);
  }
  return -1;
}

// Warns about entries named like checkpoints that list_checkpoints() leaves out because they are
// not regular files, so that none is skipped without a word.
void warn_about_non_files(const std::string& dir, const CheckpointWarning& warn) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (step_of(it->path().filename().string()) < 0) continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) continue;
    const char* what = it->is_directory(type_ec) ? "a directory" : "not a regular file";
    (warn ? warn : default_warning)("skipping " + it->path().string() + ": it is " + what +
                                    ", not a checkpoint file");
  }
}
}  // namespace

std::optional<CheckpointFile> latest_valid_checkpoint(const std::string& dir,
                                                      const CheckpointWarning& warn,
                                                      int64_t before) {
  const std::vector<CheckpointFile> files = list_checkpoints(dir);
  if (before == std::numeric_limits<int64_t>::max()) warn_about_non_files(dir, warn);
  const int64_t i = newest_valid(files, warn, before);
  if (i < 0) return std::nullopt;
  return files[size_t(i)];
}

std::vector<std::string> prune_checkpoints(const std::string& dir, int keep_last,
                                           const CheckpointWarning& warn) {
  XOMNI_CHECK(keep_last >= 1, "prune_checkpoints: keep_last must be >= 1, got ", keep_last);
  const std::vector<CheckpointFile> files = list_checkpoints(dir);
  if (files.size() <= size_t(keep_last)) return {};
  // Only checkpoints that open as complete xomni checkpoints of the step in their name count
  // toward keep_last, and only those may go: a file that does not open may be someone's data.
  // (The structure check reads no tensor data, so pruning stays cheap for large files.)
  std::vector<size_t> valid;  // newest first
  for (size_t i = files.size(); i-- > 0;) {
    const std::string why = checkpoint_problem(files[i].path, CheckpointVerify::structure);
    if (why.empty()) {
      valid.push_back(i);
    } else {
      (warn ? warn : default_warning)("prune_checkpoints: leaving " + files[i].path +
                                      " alone (it is not a readable checkpoint, so it neither "
                                      "counts toward the kept ones nor is deleted): " +
                                      why);
    }
  }
  if (valid.empty())
    (warn ? warn : default_warning)("prune_checkpoints: no valid checkpoint in " + dir +
                                    "; deleting nothing");
  std::vector<std::string> removed;
  for (size_t k = size_t(keep_last); k < valid.size(); ++k) {
    const std::string& p = files[valid[k]].path;
    std::error_code ec;
    if (fs::remove(p, ec)) {
      removed.push_back(p);
    } else if (ec) {
      (warn ? warn
            : default_warning)("prune_checkpoints: cannot delete " + p + ": " + ec.message());
    }
  }
  std::reverse(removed.begin(), removed.end());  // oldest first
  return removed;
}

}  // namespace xomni
