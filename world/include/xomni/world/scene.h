#pragma once
// Synthetic scenes: coloured shapes (circle, square, triangle, star) on a light grey (optionally
// textured) background, one per (seed, index), covering GenEval's six categories. Each sample
// carries metadata JSON (the objects and GenEval-style include/exclude requirements), captions
// from a short prompt to a dense caption, and VQA pairs. Shapes are rasterised with exact
// pixel-centre coverage (no anti-aliasing), so every pixel of an object has exactly its palette
// colour and scene_checker.h can parse a clean render back without error.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/io/image.h"

namespace xomni::world {

// The palette: 8 saturated colours at least ~97 apart in RGB (Euclidean), and the background
// grey, far from all of them.
struct PaletteColor {
  const char* name;
  uint8_t r, g, b;
};
const std::vector<PaletteColor>& scene_palette();
inline constexpr uint8_t kSceneBackground[3] = {230, 230, 230};
// The index of `name` in scene_palette(); throws an Error for an unknown name.
int palette_index(const std::string& name);

// Shapes, in this order; names as used in metadata ("circle", "square", "triangle", "star").
inline constexpr std::array<const char*, 4> kSceneShapes = {"circle", "square", "triangle", "star"};
int shape_index(const std::string& name);  // throws an Error for an unknown name

// GenEval's categories ("tags"), in this order.
inline constexpr std::array<const char*, 6> kSceneCategories = {
    "single_object", "two_object", "counting", "colors", "position", "color_attr"};

struct SceneOptions {
  int64_t size = 64;                 // width = height, >= 32
  bool textured_background = false;  // low-contrast noise or stripes around the grey
};

// An object as drawn: box is [x0, y0, x1, y1) over its drawn pixels (x1, y1 exclusive).
struct SceneObject {
  std::string shape, color;
  std::array<int64_t, 4> box{};
};

// One GenEval requirement: `count` objects of shape `shape`; optional colour; optional relation
// ("left of", "right of", "above", "below") to the objects matched by include[relative_to].
struct SceneRequirement {
  std::string shape;
  int64_t count = 1;
  std::string color;     // "" = any
  std::string relation;  // "" = none
  int64_t relative_to = -1;
};

struct SceneMetadata {
  std::string category;  // one of kSceneCategories
  std::string prompt;    // the short GenEval-style prompt (also captions[0])
  std::vector<SceneObject> objects;
  std::vector<SceneRequirement> include;  // all must hold
  std::vector<SceneRequirement> exclude;  // fails when >= count objects of the shape are found
};

// The sample for (seed, index): kind "scene", category chosen by the index (round robin over
// kSceneCategories), everything else by Philox(seed, counter derived from index).
ImageSample generate_scene(uint64_t seed, int64_t index, const SceneOptions& options = {});
// The same with a given category (one of kSceneCategories).
ImageSample generate_scene(uint64_t seed, int64_t index, const std::string& category,
                           const SceneOptions& options = {});

// Metadata <-> JSON. JSON: {"kind":"scene","category":..,"prompt":..,"objects":[{"shape":..,
// "color":..,"box":[x0,y0,x1,y1]}],"include":[{"class":..,"count":..,"color":..,
// "position":[relation, index]}],"exclude":[{"class":..,"count":..}]} (GenEval's field names).
std::string scene_metadata_to_json(const SceneMetadata& metadata);
SceneMetadata parse_scene_metadata(const std::string& json);  // throws an Error when malformed

// Words for captions and the checker's tests: the synonyms a caption may use for a shape, and
// the number words "one" .. "four".
const std::vector<std::string>& shape_synonyms(const std::string& shape);
std::string number_word(int64_t n);

}  // namespace xomni::world
