// generate_scene: picks the objects of a scene for its category, places them without overlap,
// draws them and writes the metadata, captions and VQA pairs.
#include <algorithm>
#include <cmath>

#include "scene_internal.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/scene_checker.h"

namespace xomni::world {
namespace {

using detail::Placed;
using detail::SceneRng;

// Distinct values from [0, n): k of them.
std::vector<int> distinct(SceneRng& rng, int n, int k) {
  std::vector<int> all(size_t(n), 0);
  for (int i = 0; i < n; ++i) all[size_t(i)] = i;
  for (int i = 0; i < k; ++i) std::swap(all[size_t(i)], all[size_t(rng.range(i, n - 1))]);
  all.resize(size_t(k));
  return all;
}

// Places the shapes at random without their squares coming closer than `gap` pixels (so
// same-coloured objects never touch, even blurred). Sizes are drawn from [lo, hi] pixels (stars
// at least `star_lo`: their points vanish when smaller). Returns false when no layout was found.
bool place(SceneRng& rng, int64_t size, double lo, double hi, double star_lo, double gap,
           std::vector<Placed>& ps) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    bool ok = true;
    for (size_t i = 0; i < ps.size() && ok; ++i) {
      Placed& p = ps[i];
      const double l = p.shape == 3 ? std::max(lo, star_lo) : lo;
      p.s = std::floor(l + rng.uniform() * std::max(0.0, hi - l));
      bool placed = false;
      for (int t = 0; t < 100 && !placed; ++t) {
        p.x = double(rng.range(1, size - 2 - int64_t(p.s)));
        p.y = double(rng.range(1, size - 2 - int64_t(p.s)));
        placed = true;
        for (size_t j = 0; j < i && placed; ++j) {
          const Placed& q = ps[j];
          placed = p.x + p.s + gap <= q.x || q.x + q.s + gap <= p.x || p.y + p.s + gap <= q.y ||
                   q.y + q.s + gap <= p.y;
        }
      }
      ok = placed;
    }
    if (ok) return true;
  }
  return false;
}

std::array<double, 4> as_double(const std::array<int64_t, 4>& b) {
  return {double(b[0]), double(b[1]), double(b[2]), double(b[3])};
}

}  // namespace

ImageSample generate_scene(uint64_t seed, int64_t index, const SceneOptions& options) {
  return generate_scene(seed, index, kSceneCategories[size_t(index % 6)], options);
}

ImageSample generate_scene(uint64_t seed, int64_t index, const std::string& category,
                           const SceneOptions& options) {
  XOMNI_CHECK(options.size >= 32 && options.size <= 4096, "generate_scene: size ", options.size,
              " is outside [32, 4096]");
  XOMNI_CHECK(index >= 0, "generate_scene: negative index ", index);
  const auto cat_it = std::find(kSceneCategories.begin(), kSceneCategories.end(), category);
  XOMNI_CHECK(cat_it != kSceneCategories.end(), "generate_scene: unknown category '", category,
              "' (expected single_object, two_object, counting, colors, position or color_attr)");
  SceneRng rng(seed, index);
  const int64_t S = options.size;
  const double u = double(S) / 64.0;
  const int num_colors = int(scene_palette().size());

  SceneMetadata m;
  m.category = category;
  std::vector<Placed> ps;
  double lo = 12 * u, hi = 22 * u;
  std::string relation;
  if (category == "single_object" || category == "colors") {
    ps.push_back({int(rng.range(0, 3)), int(rng.range(0, num_colors - 1)), 0, 0, 0});
    lo = 14 * u, hi = 28 * u;
  } else if (category == "counting") {
    const int n = int(rng.range(1, 4)), shape = int(rng.range(0, 3));
    for (int i = 0; i < n; ++i) ps.push_back({shape, int(rng.range(0, num_colors - 1)), 0, 0, 0});
    lo = 12 * u, hi = 18 * u;
  } else {  // two objects of different shapes (different colours for color_attr)
    const auto shapes = distinct(rng, 4, 2);
    const auto colors = distinct(rng, num_colors, 2);
    const bool same_ok = category != "color_attr";
    for (int i = 0; i < 2; ++i) {
      const int c = same_ok ? int(rng.range(0, num_colors - 1)) : colors[size_t(i)];
      ps.push_back({shapes[size_t(i)], c, 0, 0, 0});
    }
    if (category == "position") {
      static const std::vector<std::string> rels = {"left of", "right of", "above", "below"};
      relation = rng.pick(rels);
    }
  }
  const double star_lo = 18 * u, gap = std::max(3.0, 3 * u);

  Image image;
  image.width = image.height = S;
  for (int attempt = 0;; ++attempt) {
    XOMNI_CHECK(attempt < 1000, "generate_scene: no layout for ", category, " at size ", S);
    if (!place(rng, S, lo, hi, star_lo, gap, ps)) continue;
    if (!relation.empty()) {
      // ps[0] is the subject: it must stand in `relation` to ps[1] with twice GenEval's
      // threshold, so a 1-2 pixel shift or blur does not flip the answer.
      auto box = [](const Placed& p) {
        return std::array<double, 4>{p.x, p.y, p.x + p.s, p.y + p.s};
      };
      const auto rels = geneval_relations(box(ps[0]), box(ps[1]), 0.2);
      if (std::find(rels.begin(), rels.end(), relation) == rels.end()) continue;
    }
    break;
  }
  fill_background(image, options.textured_background, rng);
  for (const auto& p : ps)
    m.objects.push_back({kSceneShapes[size_t(p.shape)], scene_palette()[size_t(p.color)].name,
                         draw_shape(image, p)});

  const auto& o = m.objects;
  if (category == "single_object" || category == "two_object") {
    for (const auto& obj : o) m.include.push_back({obj.shape, 1, "", "", -1});
  } else if (category == "colors" || category == "color_attr") {
    for (const auto& obj : o) m.include.push_back({obj.shape, 1, obj.color, "", -1});
  } else if (category == "counting") {
    const int64_t n = int64_t(o.size());
    m.include.push_back({o[0].shape, n, "", "", -1});
    m.exclude.push_back({o[0].shape, n + 1, "", "", -1});
  } else {  // position: GenEval lists the reference first and the subject relative to it
    m.include.push_back({o[1].shape, 1, "", "", -1});
    m.include.push_back({o[0].shape, 1, "", relation, 0});
    // The drawn boxes must agree with the relation under GenEval's own threshold.
    const auto rels = geneval_relations(as_double(o[0].box), as_double(o[1].box));
    XOMNI_CHECK(std::find(rels.begin(), rels.end(), relation) != rels.end(),
                "generate_scene: internal error, drawn boxes lost the relation ", relation);
  }

  ImageSample sample;
  sample.kind = "scene";
  detail::write_captions(m, S, options.textured_background, rng, sample.captions, sample.qa);
  m.prompt = sample.captions.at(0);
  sample.metadata_json = scene_metadata_to_json(m);
  sample.image = std::move(image);
  return sample;
}

}  // namespace xomni::world
