#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "fuzz_target.h"

namespace xomni::fuzz {

namespace {

// Made on first use, removed at exit (by the destructor of the static that holds its name).
struct ScratchDir {
  std::string path;
  ScratchDir() {
    const std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    path = (base / ("xomni-fuzz-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write the scratch file %s\n", path.c_str());
    std::abort();
  }
  return path;
}

std::pair<std::string_view, std::string_view> split_two(std::string_view input) {
  constexpr std::string_view sep = "\n----\n";
  const size_t at = input.find(sep);
  if (at == std::string_view::npos) return {input, {}};
  return {input.substr(0, at), input.substr(at + sep.size())};
}

}  // namespace xomni::fuzz
