// The driver for builds without libFuzzer (GCC, the default and asan presets): runs the fuzz
// target once on every file given, or on every file inside a folder given, so the committed seed
// corpus and the regression inputs of past findings run as ordinary tests. A file that crashes
// crashes this program; the last "replay:" line names it.
//   fuzz_<name>_replay [--accept DIR_OR_FILE]... [DIR_OR_FILE]...
// Inputs after --accept must also be accepted (loaded without an Error): the seed corpus is valid
// data, so a loader that starts refusing it fails the test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Returns false when `must_accept` and the input was refused.
bool replay_file(const std::filesystem::path& path, bool must_accept) {
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!must_accept || xomni::fuzz::last_refusal.empty()) return true;
  std::fprintf(stderr, "FAIL: the seed %s is refused: %s\n", path.c_str(),
               xomni::fuzz::last_refusal.c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int replayed = 0, refused_seeds = 0;
  for (int i = 1; i < argc; ++i) {
    const bool must_accept = std::string(argv[i]) == "--accept";
    if (must_accept && ++i == argc) break;
    const std::filesystem::path arg(argv[i]);
    if (!std::filesystem::exists(arg)) continue;  // a target without regression inputs yet
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.push_back(arg);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) refused_seeds += !replay_file(f, must_accept), ++replayed;
  }
  std::printf("replayed %d inputs, %d seeds refused\n", replayed, refused_seeds);
  return replayed > 0 && refused_seeds == 0 ? 0 : 1;  // an empty corpus is a broken test
}
