#pragma once
// Writing a dataset folder without ever losing the one already there: the data goes to a staging
// folder beside the target, which takes the target's place only once it is complete. A failed
// write leaves the target as it was (and removes the staging folder).
#include <string>

namespace xomni::cli {

class StagedFolder {
 public:
  // Refuses a target that exists and is not an empty folder unless `overwrite`; `flag` names the
  // option that allows it in the message (e.g. "--overwrite").
  StagedFolder(const std::string& target, bool overwrite, const std::string& flag);
  ~StagedFolder();  // removes the staging folder unless committed
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  // Where to write.
  const std::string& path() const { return staging_; }
  // Puts the staging folder in the target's place (the old target, if any, is removed after).
  void commit();

 private:
  std::string target_, staging_;
  bool committed_ = false;
};

}  // namespace xomni::cli
