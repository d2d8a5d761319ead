#pragma once
// Shared by every fuzz target. A target feeds the input to one loader and accepts exactly one
// outcome besides success: an xomni::Error, the project's "bad input, here is what and where".
// Any other exception (a bare std::bad_alloc, a JSON library exception, std::out_of_range) is an
// unclear error and aborts, so libFuzzer records it as a finding; so does every crash, leak and
// undefined behaviour the sanitizers see.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "xomni/core/tensor/error.h"

namespace xomni::fuzz {

// The last refusal's message, "" after an accepted input (the replay driver checks that the seed
// corpus is accepted, so seeds stay valid inputs as formats evolve).
inline std::string last_refusal;

template <typename Body>
int run_guarded(const char* target, Body&& body) {
  last_refusal.clear();
  try {
    body();
  } catch (const xomni::Error& e) {
    last_refusal = e.what();  // the expected refusal of a bad input
    if (last_refusal.empty()) last_refusal = "(an Error without a message)";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: unclear error escaped the loader: %s\n", target, e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "%s: a non-std exception escaped the loader\n", target);
    std::abort();
  }
  return 0;
}

// A per-process scratch folder (in /dev/shm when it exists) for loaders that read files.
std::string scratch_dir();
// Writes `bytes` to scratch_dir()/name and returns the path.
std::string write_scratch(const std::string& name, std::string_view bytes);

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits an input at the first "\n----\n" into two parts (the second empty when absent): the
// seed format of loaders that read two files (a manifest and a shard).
std::pair<std::string_view, std::string_view> split_two(std::string_view input);

}  // namespace xomni::fuzz
