#pragma once
// Internals shared by the scene generator's files: the Philox stream of one scene, the
// rasteriser, and the caption/QA writer.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/io/image.h"
#include "xomni/world/scene.h"

namespace xomni::world::detail {

// The random stream of scene `index`: Philox(seed, (index << 24) + n), n = 0, 1, ... (16M counters,
// 4 words each, per scene: far more than a scene draws).
class SceneRng {
 public:
  SceneRng(uint64_t seed, int64_t index) : seed_(seed), base_(uint64_t(index) << 24) {}
  uint32_t next_u32();
  double uniform();                       // [0, 1)
  int64_t range(int64_t lo, int64_t hi);  // [lo, hi]
  double normal();
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[size_t(range(0, int64_t(v.size()) - 1))];
  }

 private:
  uint64_t seed_, base_, counter_ = 0;
  uint32_t buf_[4] = {0, 0, 0, 0};
  int used_ = 4;
};

// A shape to draw: the square [x, x + s) x [y, y + s) it is inscribed in.
struct Placed {
  int shape = 0, color = 0;
  double x = 0, y = 0, s = 0;
};

// Fills the background (plain grey, or textured when asked) and draws the shapes with exact
// pixel-centre coverage; returns each shape's drawn-pixel box [x0, y0, x1, y1).
void fill_background(Image& image, bool textured, SceneRng& rng);
std::array<int64_t, 4> draw_shape(Image& image, const Placed& p);

// Captions (captions[0] is the short prompt) and VQA pairs for the metadata.
void write_captions(const SceneMetadata& m, int64_t size, bool textured, SceneRng& rng,
                    std::vector<std::string>& captions,
                    std::vector<std::pair<std::string, std::string>>& qa);

}  // namespace xomni::world::detail
