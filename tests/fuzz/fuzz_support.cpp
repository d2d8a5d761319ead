#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "fuzz_target.h"

namespace xomni::fuzz {

std::string scratch_dir() {
  static const std::string dir = [] {
    const std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    const std::filesystem::path d = base / ("xomni-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::filesystem::remove_all(scratch_dir()); });
    return d.string();
  }();
  return dir;
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
