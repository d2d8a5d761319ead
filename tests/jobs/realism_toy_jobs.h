#pragma once
// The realism stage's toy problem for tests: smooth images (labelled real) against pixel noise
// (labelled corrupted), separable by a small CNN in a few hundred steps, and its job file.
#include <cmath>
#include <filesystem>
#include <string>

#include "realism/realism_job.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/tensor/random.h"

namespace xomni::test {
namespace fs = std::filesystem;

// A 12x12 image: smooth (a linear ramp between two random colours along a random axis) or
// uniform pixel noise; both are drawn from (seed, i).
inline Image toy_image(bool smooth, uint64_t seed, int64_t i) {
  Generator gen(seed * 7919 + uint64_t(i));
  const std::vector<float> u = rand({12 * 12 * 3 + 7}, gen).to_vector<float>();
  Image img(12, 12);
  const bool vertical = u[0] < 0.5f;
  for (int64_t y = 0; y < 12; ++y)
    for (int64_t x = 0; x < 12; ++x)
      for (int c = 0; c < 3; ++c) {
        const float t = float(vertical ? y : x) / 11.0f;
        const float v = smooth ? (1 - t) * u[size_t(1 + c)] + t * u[size_t(4 + c)]
                               : u[size_t(7 + (y * 12 + x) * 3 + c)];
        img.at(x, y)[c] = uint8_t(std::lround(v * 255.0f));
      }
  return img;
}

inline std::string toy_dataset(const fs::path& root, const std::string& name, uint64_t seed,
                               int64_t n) {
  const std::string dir = (root / name).string();
  ImageShardWriter w(dir, 64);
  for (int64_t i = 0; i < n; ++i) {
    ImageSample s;
    s.image = toy_image(i % 2 == 0, seed, i);
    s.kind = i % 2 == 0 ? realism::kCleanKind : realism::kCorruptedKind;
    s.metadata_json = "{}";
    w.add(s);
  }
  w.finish();
  return dir;
}

inline std::string toy_job(const fs::path& root, const std::string& name, int64_t steps,
                           const std::string& train, const std::string& valid,
                           const std::string& extra = "") {
  return "[run]\nstage = \"realism\"\nname = \"" + name + "\"\ndir = \"" + root.string() +
         "\"\nseed = 3\n[model]\nimage_size = 8\nchannels = 4\nlevels = 2\ngroups = 2\n"
         "[data]\ntrain = \"" +
         train + "\"\nvalid = \"" + valid + "\"\neval_batches = 4\nprefetch = 1\n" +
         "[train]\nsteps = " + std::to_string(steps) +
         "\nbatch_size = 8\nlog_every = 100\neval_every = " + std::to_string(steps) +
         "\ncheckpoint_every = 0\n[optimizer]\nlearning_rate = 0.01\nweight_decay = 0.0\n" +
         "[schedule]\nkind = \"constant\"\nwarmup_steps = 0\n" + extra;
}

}  // namespace xomni::test
