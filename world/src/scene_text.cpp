// Captions and VQA pairs of a scene: several templates per category and shape synonyms, so a
// model cannot learn one phrasing; captions[0] is the short GenEval-style prompt and the last is
// the dense caption that names every object with its colour, size and place.
#include <algorithm>
#include <map>

#include "scene_internal.h"

namespace xomni::world::detail {
namespace {

std::string article(const std::string& word) {
  return std::string("aeiou").find(word[0]) != std::string::npos ? "an " + word : "a " + word;
}

std::string plural(const std::string& noun) {
  return noun.back() == 'x' ? noun + "es" : noun + "s";
}

std::string fill(std::string t, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars)
    for (size_t at; (at = t.find(k)) != std::string::npos;) t.replace(at, k.size(), v);
  return t;
}

// Where a box lies in the image, in thirds ("in the top left corner", "in the centre", ...).
std::string place_words(const SceneObject& o, int64_t size) {
  const double cx = double(o.box[0] + o.box[2]) / 2, cy = double(o.box[1] + o.box[3]) / 2;
  const int col = std::min(2, int(3 * cx / double(size))),
            row = std::min(2, int(3 * cy / double(size)));
  static const char* names[3][3] = {
      {"in the top left corner", "at the top", "in the top right corner"},
      {"on the left", "in the centre", "on the right"},
      {"in the bottom left corner", "at the bottom", "in the bottom right corner"}};
  return names[row][col];
}

std::string size_word(const SceneObject& o, int64_t size) {
  const double side = double(std::max(o.box[2] - o.box[0], o.box[3] - o.box[1])) / double(size);
  return side < 0.24 ? "small" : side < 0.34 ? "medium-sized" : "large";
}

std::string relation_phrase(const std::string& rel, SceneRng& rng) {
  static const std::map<std::string, std::vector<std::string>> phrases = {
      {"left of", {"left of", "to the left of", "on the left side of"}},
      {"right of", {"right of", "to the right of", "on the right side of"}},
      {"above", {"above", "higher up than", "over"}},
      {"below", {"below", "beneath", "lower down than"}}};
  return rng.pick(phrases.at(rel));
}

}  // namespace

void write_captions(const SceneMetadata& m, int64_t size, bool textured, SceneRng& rng,
                    std::vector<std::string>& captions,
                    std::vector<std::pair<std::string, std::string>>& qa) {
  const auto& o = m.objects;
  auto noun = [&](const std::string& shape) { return rng.pick(shape_synonyms(shape)); };
  const std::string a = noun(o[0].shape), b = o.size() > 1 ? noun(o[1].shape) : a;
  const std::string ca = o[0].color, cb = o.size() > 1 ? o[1].color : ca;
  const std::string n = number_word(int64_t(o.size()));

  // 1. The short prompt.
  std::vector<std::string> t;
  if (m.category == "single_object")
    t = {"a photo of {aA}", "{aA}", "an image of {aA}", "a picture showing {aA}", "{A}"};
  else if (m.category == "two_object")
    t = {"a photo of {aA} and {aB}", "{aA} and {aB}", "an image with {aA} and {aB}",
         "{aA} together with {aB}", "a picture of {aB} and {aA}"};
  else if (m.category == "counting")
    t = o.size() == 1
            ? std::vector<std::string>{"a photo of one {A}", "one {A}", "exactly one {A}",
                                       "a single {A}"}
            : std::vector<std::string>{"a photo of {n} {As}", "{n} {As}", "exactly {n} {As}",
                                       "an image of {n} {As}", "{N} {As}"};
  else if (m.category == "colors")
    t = {"a photo of {a cA} {A}", "{a cA} {A}", "{aA} that is {cA}", "{aA} coloured {cA}",
         "an image of {a cA} {A}"};
  else if (m.category == "position")
    t = {"a photo of {aA} {rel} {aB}", "{aA} {rel} {aB}", "an image with {aA} {rel} {aB}",
         "there is {aA} {rel} {aB}"};
  else
    t = {"a photo of {a cA} {A} and {a cB} {B}", "{a cA} {A} and {a cB} {B}",
         "{a cA} {A} with {a cB} {B}", "an image of {a cB} {B} and {a cA} {A}"};
  std::string rel;
  for (const auto& r : m.include)
    if (!r.relation.empty()) rel = r.relation;
  const std::map<std::string, std::string> vars = {
      {"{aA}", article(a)},
      {"{aB}", article(b)},
      {"{a cA}", article(ca)},
      {"{a cB}", article(cb)},
      {"{As}", plural(a)},
      {"{A}", a},
      {"{B}", b},
      {"{cA}", ca},
      {"{cB}", cb},
      {"{n}", n},
      {"{N}", std::to_string(o.size())},
      {"{rel}", rel.empty() ? "" : relation_phrase(rel, rng)}};
  captions.push_back(fill(rng.pick(t), vars));

  // 2. A sentence naming every object with its colour.
  std::string list;
  for (size_t i = 0; i < o.size(); ++i) {
    list += (i == 0              ? ""
             : i + 1 == o.size() ? " and "
                                 : ", ") +
            article(o[i].color) + " " + noun(o[i].shape);
  }
  static const std::vector<std::string> medium = {"There is {list}.", "The image shows {list}.",
                                                  "We can see {list}.", "It contains {list}."};
  captions.push_back(fill(rng.pick(medium), {{"{list}", list}}));

  // 3. The dense caption: background, then each object with its size and place.
  static const std::vector<std::string> backgrounds = {
      "a plain light grey background", "a flat grey background", "a uniform pale grey backdrop"};
  static const std::vector<std::string> textured_bgs = {"a faintly textured grey background",
                                                        "a grey background with a subtle pattern"};
  std::string dense = "A " + std::to_string(size) + "x" + std::to_string(size) + " image with " +
                      rng.pick(textured ? textured_bgs : backgrounds) + " and " + n +
                      (o.size() == 1 ? " object: " : " objects: ");
  for (size_t i = 0; i < o.size(); ++i)
    dense += (i == 0              ? ""
              : i + 1 == o.size() ? " and "
                                  : ", ") +
             article(size_word(o[i], size)) + " " + o[i].color + " " + noun(o[i].shape) + " " +
             place_words(o[i], size);
  dense += ".";
  if (!rel.empty())
    dense +=
        " The " + ca + " " + a + " is " + relation_phrase(rel, rng) + " the " + cb + " " + b + ".";
  captions.push_back(dense);

  // VQA: counts (also of a shape that is absent), colours of unique shapes, shapes of unique
  // colours, presence, and the relation.
  std::map<std::string, int> shape_count, color_count;
  for (const auto& obj : o) ++shape_count[obj.shape], ++color_count[obj.color];
  for (const char* shape : kSceneShapes) {
    const auto it = shape_count.find(shape);
    if (it == shape_count.end() && rng.uniform() < 0.7) continue;
    const int c = it == shape_count.end() ? 0 : it->second;
    qa.push_back({"How many " + plural(noun(shape)) + " are there?", std::to_string(c)});
  }
  qa.push_back({"How many objects are in the image?", std::to_string(o.size())});
  for (const auto& obj : o) {
    if (shape_count[obj.shape] == 1)
      qa.push_back({"What colour is the " + noun(obj.shape) + "?", obj.color});
    if (color_count[obj.color] == 1)
      qa.push_back({"What shape is the " + obj.color + " object?", obj.shape});
  }
  qa.push_back({"Is there " + article(o[0].color) + " " + noun(o[0].shape) + "?", "yes"});
  if (!rel.empty()) {
    qa.push_back({"What is " + rel + " the " + b + "?", "the " + ca + " " + o[0].shape});
    qa.push_back({"Is the " + a + " " + rel + " the " + b + "?", "yes"});
  }
}

}  // namespace xomni::world::detail
