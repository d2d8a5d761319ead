// The scene palette, shape names and synonyms, and the metadata's JSON form.
#include <nlohmann/json.hpp>

#include "xomni/core/tensor/error.h"
#include "xomni/world/scene.h"

namespace xomni::world {

const std::vector<PaletteColor>& scene_palette() {
  // Chosen far apart: the closest pairs (red/orange, orange/yellow) are ~97 apart, so a pixel
  // with noise of sigma ~15 per channel still lands nearest its own colour.
  static const std::vector<PaletteColor> palette = {
      {"red", 220, 40, 40},     {"green", 40, 170, 60},   {"blue", 40, 70, 220},
      {"yellow", 240, 225, 40}, {"purple", 140, 50, 180}, {"orange", 250, 130, 20},
      {"cyan", 40, 200, 220},   {"pink", 245, 130, 200}};
  return palette;
}

int palette_index(const std::string& name) {
  const auto& p = scene_palette();
  for (size_t i = 0; i < p.size(); ++i)
    if (name == p[i].name) return int(i);
  XOMNI_CHECK(false, "scene: unknown colour '", name, "'");
  return -1;
}

int shape_index(const std::string& name) {
  for (size_t i = 0; i < kSceneShapes.size(); ++i)
    if (name == kSceneShapes[i]) return int(i);
  XOMNI_CHECK(false, "scene: unknown shape '", name, "'");
  return -1;
}

const std::vector<std::string>& shape_synonyms(const std::string& shape) {
  static const std::vector<std::vector<std::string>> synonyms = {{"circle", "disc", "round shape"},
                                                                 {"square", "block", "box"},
                                                                 {"triangle", "triangular shape"},
                                                                 {"star", "five-pointed star"}};
  return synonyms[size_t(shape_index(shape))];
}

std::string number_word(int64_t n) {
  static const char* words[] = {"zero", "one", "two",   "three", "four",
                                "five", "six", "seven", "eight"};
  XOMNI_CHECK(n >= 0 && n <= 8, "scene: no number word for ", n);
  return words[n];
}

std::string scene_metadata_to_json(const SceneMetadata& m) {
  using nlohmann::json;
  json j = {{"kind", "scene"}, {"category", m.category}, {"prompt", m.prompt}};
  json objects = json::array();
  for (const auto& o : m.objects)
    objects.push_back({{"shape", o.shape}, {"color", o.color}, {"box", o.box}});
  j["objects"] = objects;
  auto reqs = [](const std::vector<SceneRequirement>& v) {
    json a = json::array();
    for (const auto& r : v) {
      json q = {{"class", r.shape}, {"count", r.count}};
      if (!r.color.empty()) q["color"] = r.color;
      if (!r.relation.empty()) q["position"] = json::array({r.relation, r.relative_to});
      a.push_back(q);
    }
    return a;
  };
  j["include"] = reqs(m.include);
  j["exclude"] = reqs(m.exclude);
  return j.dump();
}

namespace {

// A JSON integer in [lo, hi]; a float or an out-of-range value is refused (nlohmann's get<int64_t>
// would cast 2.5e24 with undefined behaviour).
int64_t bounded_integer(const nlohmann::json& v, const char* what, int64_t lo, int64_t hi) {
  XOMNI_CHECK(v.is_number_integer(), "scene metadata: ", what, " is not an integer: ", v.dump());
  XOMNI_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(hi),
              "scene metadata: ", what, " = ", v.dump(), " is outside [", lo, ", ", hi, "]");
  const int64_t x = v.get<int64_t>();
  XOMNI_CHECK(x >= lo && x <= hi, "scene metadata: ", what, " = ", x, " is outside [", lo, ", ", hi,
              "]");
  return x;
}

}  // namespace

SceneMetadata parse_scene_metadata(const std::string& text) {
  using nlohmann::json;
  SceneMetadata m;
  try {
    const json j = json::parse(text);
    XOMNI_CHECK(
        j.is_object() && j.contains("include"),
        "scene metadata: expected an object with an 'include' list, got: ", text.substr(0, 200));
    m.category = j.value("category", j.value("tag", ""));
    m.prompt = j.value("prompt", "");
    if (j.contains("objects"))
      for (const auto& o : j["objects"]) {
        SceneObject so;
        so.shape = o.at("shape").get<std::string>();
        so.color = o.at("color").get<std::string>();
        const json& box = o.at("box");
        XOMNI_CHECK(box.is_array() && box.size() == 4, "scene metadata: an object's box is not ",
                    "four integers: ", box.dump());
        for (size_t k = 0; k < 4; ++k)
          so.box[k] =
              bounded_integer(box[k], "a box coordinate", -(int64_t(1) << 20), int64_t(1) << 20);
        m.objects.push_back(so);
      }
    auto reqs = [](const json& a, std::vector<SceneRequirement>& out) {
      for (const auto& q : a) {
        SceneRequirement r;
        r.shape = q.at("class").get<std::string>();
        r.count = q.contains("count") ? bounded_integer(q["count"], "count", 0, 1 << 20) : 1;
        r.color = q.value("color", std::string());
        if (q.contains("position")) {
          r.relation = q["position"].at(0).get<std::string>();
          r.relative_to = bounded_integer(q["position"].at(1), "position's index", 0, 1 << 20);
        }
        out.push_back(r);
      }
    };
    reqs(j.at("include"), m.include);
    if (j.contains("exclude")) reqs(j["exclude"], m.exclude);
  } catch (const nlohmann::json::exception& e) {
    XOMNI_CHECK(false, "scene metadata: cannot read '", text.substr(0, 200), "': ", e.what());
  }
  for (size_t i = 0; i < m.include.size(); ++i) {
    const auto& r = m.include[i];
    XOMNI_CHECK(r.relation.empty() || (r.relative_to >= 0 && size_t(r.relative_to) < i),
                "scene metadata: include[", i, "] is relative to include[", r.relative_to,
                "], which does not come before it");
  }
  return m;
}

}  // namespace xomni::world
