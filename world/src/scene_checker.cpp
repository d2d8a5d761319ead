// The scene checker: segment by nearest palette colour, keep solid connected components,
// classify shapes by bounding-box fill and centroid height, then apply GenEval's rules.
#include "xomni/world/scene_checker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "xomni/core/tensor/error.h"

namespace xomni::world {
namespace {

constexpr uint8_t kNone = 255;  // background, or no colour

// Fill ratio and centroid height (0 = top of the box, 1 = bottom) -> shape. Reference values at
// exact coverage: square fill 1, circle pi/4 = 0.785, triangle 0.5 with centroid at 2/3 of the
// height, star (inner radius 0.38) ~0.33 with centroid ~0.55. Thresholds sit between them.
std::string classify(double fill, double cy_rel) {
  if (fill >= 0.94) return "square";  // a blurred circle fills up to ~0.9 of its box
  if (cy_rel >= 0.61 && fill < 0.7) return "triangle";
  if (fill >= 0.62) return "circle";
  return "star";
}

}  // namespace

int nearest_scene_colour(const uint8_t* p, double max_distance) {
  auto d2 = [&](int r, int g, int b) {
    const double dr = p[0] - r, dg = p[1] - g, db = p[2] - b;
    return dr * dr + dg * dg + db * db;
  };
  const auto& palette = scene_palette();
  double best = d2(kSceneBackground[0], kSceneBackground[1], kSceneBackground[2]);
  int colour = -1;
  for (size_t c = 0; c < palette.size(); ++c) {
    const double d = d2(palette[c].r, palette[c].g, palette[c].b);
    if (d < best) best = d, colour = int(c);
  }
  return colour >= 0 && best <= max_distance * max_distance ? colour : -1;
}

std::vector<DetectedObject> parse_scene(const Image& image, const ParseOptions& options) {
  const int64_t w = image.width, h = image.height;
  XOMNI_CHECK(w > 0 && h > 0 && int64_t(image.rgb.size()) == 3 * w * h, "parse_scene: bad image ",
              w, "x", h, " with ", image.rgb.size(), " bytes");
  const auto& palette = scene_palette();
  // Background and pixels far from every colour (blended edges) alike belong to no object.
  std::vector<uint8_t> label(size_t(w * h));
  for (int64_t i = 0; i < w * h; ++i) {
    const int c = nearest_scene_colour(image.rgb.data() + 3 * i, options.max_color_distance);
    label[size_t(i)] = c < 0 ? kNone : uint8_t(c);
  }
  std::vector<DetectedObject> out;
  std::vector<int32_t> comp(size_t(w * h), -1);
  std::vector<int64_t> stack;
  int32_t next = 0;
  for (int64_t start = 0; start < w * h; ++start) {
    const uint8_t l = label[size_t(start)];
    if (l == kNone || comp[size_t(start)] >= 0) continue;
    // Flood fill one 4-connected component of colour l.
    int64_t area = 0, core = 0, x0 = w, y0 = h, x1 = 0, y1 = 0;
    double sx = 0, sy = 0;
    stack.assign(1, start);
    comp[size_t(start)] = next;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      const int64_t x = i % w, y = i / w;
      ++area, sx += double(x) + 0.5, sy += double(y) + 0.5;
      x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1),
      y1 = std::max(y1, y + 1);
      // 8-connected (a star's tip pixel may touch its body only diagonally); interior means
      // all 4 direct neighbours share the colour.
      int same = 0;
      for (int64_t ny = y - 1; ny <= y + 1; ++ny)
        for (int64_t nx = x - 1; nx <= x + 1; ++nx) {
          if (nx < 0 || nx >= w || ny < 0 || ny >= h || (nx == x && ny == y)) continue;
          const int64_t j = ny * w + nx;
          if (label[size_t(j)] != l) continue;
          same += nx == x || ny == y;
          if (comp[size_t(j)] < 0) comp[size_t(j)] = next, stack.push_back(j);
        }
      core += same == 4;
    }
    ++next;
    if (core < options.min_core_pixels) continue;  // specks and blended rings at blurred edges
    DetectedObject d;
    d.color = palette[l].name;
    d.box = {x0, y0, x1, y1};
    d.area = area;
    d.cx = sx / double(area), d.cy = sy / double(area);
    d.fill = double(area) / double((x1 - x0) * (y1 - y0));
    d.shape = classify(d.fill, (d.cy - double(y0)) / double(y1 - y0));
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(), [](const DetectedObject& a, const DetectedObject& b) {
    return a.area > b.area;
  });
  return out;
}

// GenEval's relative_position (djghosh13/geneval, evaluation/evaluate_images.py): box centres,
// the offset shrunk by threshold * (sum of the two boxes' sizes) per axis (POSITION_THRESHOLD =
// 0.1), divided by the length of the raw offset; a component beyond +-0.5 gives the relation.
std::vector<std::string> geneval_relations(const std::array<double, 4>& a,
                                           const std::array<double, 4>& b, double threshold) {
  const double off[2] = {(a[0] + a[2]) / 2 - (b[0] + b[2]) / 2,
                         (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2};
  const double dim[2] = {(a[2] - a[0]) + (b[2] - b[0]), (a[3] - a[1]) + (b[3] - b[1])};
  double rev[2];
  for (int k = 0; k < 2; ++k)
    rev[k] = std::max(std::abs(off[k]) - threshold * dim[k], 0.0) * (off[k] > 0   ? 1
                                                                     : off[k] < 0 ? -1
                                                                                  : 0);
  std::vector<std::string> rels;
  if (std::abs(rev[0]) < 1e-3 && std::abs(rev[1]) < 1e-3) return rels;
  const double norm = std::hypot(off[0], off[1]);
  const double dx = rev[0] / norm, dy = rev[1] / norm;
  if (dx < -0.5) rels.push_back("left of");
  if (dx > 0.5) rels.push_back("right of");
  if (dy < -0.5) rels.push_back("above");
  if (dy > 0.5) rels.push_back("below");
  return rels;
}

// GenEval's evaluate() (same file): every include clause needs `count` objects of its class
// (the `count` most confident: here the largest); with a colour, all of them must have it; with a
// position, each must stand in the relation to every object matched by the clause it refers to
// (which must itself have matched). Exclude clauses fail when >= count objects of the class exist.
// Counting prompts are include {N} + exclude {N + 1}: exactly N.
GenEvalResult score_geneval(const std::vector<DetectedObject>& objects,
                            const SceneMetadata& metadata) {
  GenEvalResult r;
  r.objects = objects;
  r.object_found = r.count_ok = r.color_ok = r.position_ok = true;
  std::ostringstream why;
  auto of_class = [&](const std::string& shape) {
    std::vector<const DetectedObject*> v;
    for (const auto& o : objects)
      if (o.shape == shape) v.push_back(&o);
    return v;  // largest first, as parse_scene sorts
  };
  std::vector<std::vector<const DetectedObject*>> matched;
  std::vector<bool> matched_ok;
  for (const auto& req : metadata.include) {
    auto found = of_class(req.shape);
    bool ok = true;
    if (found.empty()) r.object_found = false;
    if (int64_t(found.size()) < req.count) {
      ok = r.count_ok = false;
      if (!req.color.empty()) r.color_ok = false;
      if (!req.relation.empty()) r.position_ok = false;
      why << "expected " << req.shape << ">=" << req.count << ", found " << found.size() << "\n";
    } else {
      found.resize(size_t(req.count));
      if (!req.color.empty()) {
        const auto n = std::count_if(found.begin(), found.end(), [&](const DetectedObject* o) {
          return o->color == req.color;
        });
        if (n < req.count) {
          ok = r.color_ok = false;
          why << "expected " << req.color << " " << req.shape << ">=" << req.count << ", found "
              << n << " " << req.color << "\n";
        }
      }
      if (!req.relation.empty() && ok) {
        XOMNI_CHECK(req.relative_to >= 0 && size_t(req.relative_to) < matched.size(),
                    "score_geneval: include clause refers to clause ", req.relative_to);
        if (!matched_ok[size_t(req.relative_to)]) {
          ok = r.position_ok = false;
          why << "no target for " << req.shape << " to be " << req.relation << "\n";
        } else {
          for (const auto* o : found) {
            for (const auto* t : matched[size_t(req.relative_to)]) {
              auto box = [](const DetectedObject* d) {
                return std::array<double, 4>{double(d->box[0]), double(d->box[1]),
                                             double(d->box[2]), double(d->box[3])};
              };
              const auto rels = geneval_relations(box(o), box(t));
              if (std::find(rels.begin(), rels.end(), req.relation) == rels.end()) {
                ok = r.position_ok = false;
                why << "expected " << req.shape << " " << req.relation << " target\n";
                break;
              }
            }
            if (!ok) break;
          }
        }
      } else if (!req.relation.empty()) {
        r.position_ok = false;
      }
    }
    matched.push_back(found);
    matched_ok.push_back(ok);
  }
  for (const auto& req : metadata.exclude) {
    const auto n = of_class(req.shape).size();
    if (int64_t(n) >= req.count) {
      r.count_ok = false;
      why << "expected " << req.shape << "<" << req.count << ", found " << n << "\n";
    }
  }
  r.reason = why.str();
  r.pass = r.reason.empty();
  return r;
}

double geneval_graded_score(const GenEvalResult& r, const SceneMetadata& metadata) {
  if (r.pass) return 1.0;
  double sum = 0;
  for (const auto& req : metadata.include) {
    std::vector<const DetectedObject*> found;
    for (const auto& o : r.objects)
      if (o.shape == req.shape) found.push_back(&o);  // largest first
    const double count = double(std::max<int64_t>(1, req.count));
    double met = std::min(double(found.size()), count) / count, parts = 1;
    if (!req.color.empty()) {
      if (found.size() > size_t(req.count)) found.resize(size_t(req.count));
      const auto n = std::count_if(found.begin(), found.end(),
                                   [&](const DetectedObject* o) { return o->color == req.color; });
      met += double(n) / count, parts += 1;
    }
    if (!req.relation.empty()) met += r.position_ok ? 1.0 : 0.0, parts += 1;
    sum += met / parts;
  }
  double score = metadata.include.empty() ? 1.0 : sum / double(metadata.include.size());
  for (const auto& req : metadata.exclude) {
    int64_t n = 0;
    for (const auto& o : r.objects) n += o.shape == req.shape;
    if (n >= req.count) score *= 0.5;
  }
  return 0.9 * score;
}

double geneval_clean_fraction(const Image& image, const GenEvalResult& r,
                              const SceneMetadata& metadata) {
  std::set<const DetectedObject*> asked;
  for (const auto& req : metadata.include) {
    int64_t left = req.count;
    for (const auto& o : r.objects)  // largest first, as score_geneval matches them
      if (o.shape == req.shape && left-- > 0) asked.insert(&o);
  }
  int64_t asked_pixels = 0;
  for (const DetectedObject* o : asked) asked_pixels += o->area;
  int64_t foreground = 0;
  const int64_t n = image.width * image.height;
  for (int64_t i = 0; i < n; ++i)
    foreground += nearest_scene_colour(image.rgb.data() + 3 * i,
                                       std::numeric_limits<double>::infinity()) >= 0;
  const int64_t unasked = std::max<int64_t>(0, foreground - asked_pixels);
  return n == 0 ? 1.0 : 1.0 - double(unasked) / double(n);
}

GenEvalResult score_geneval(const Image& image, const SceneMetadata& metadata,
                            const ParseOptions& options) {
  return score_geneval(parse_scene(image, options), metadata);
}

GenEvalResult score_geneval(const Image& image, const std::string& metadata_json,
                            const ParseOptions& options) {
  return score_geneval(image, parse_scene_metadata(metadata_json), options);
}

}  // namespace xomni::world
