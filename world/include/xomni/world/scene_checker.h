#pragma once
// Parses an image of a synthetic scene back into objects and scores it against a prompt's
// metadata with GenEval's per-category rules (the `scene` reward and the evaluation metric).
//
// Parsing: every pixel goes to its nearest palette colour or the background grey, or to "none"
// when it is far from all of them (blended edges); 4-connected components of one colour that
// have enough interior pixels (pixels whose 4 neighbours share the colour: thin rings of blended
// colours at blurred edges have none) are objects. The shape comes from the fill ratio of the
// bounding box (square ~1, circle ~0.79, triangle ~0.5, star ~0.33) and how low the centroid sits
// in the box (an upright triangle's is at 2/3 of its height).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/core/io/image.h"
#include "xomni/world/scene.h"

namespace xomni::world {

struct DetectedObject {
  std::string shape, color;
  std::array<int64_t, 4> box{};  // [x0, y0, x1, y1), x1 and y1 exclusive
  double cx = 0, cy = 0;         // centroid of the pixels
  int64_t area = 0;              // pixels
  double fill = 0;               // area / box area
};

struct ParseOptions {
  double max_color_distance = 60;  // RGB distance beyond which a pixel matches no colour
  int64_t min_core_pixels = 6;     // interior pixels a component needs to count as an object
};

// The palette colour an RGB pixel reads as: its index in scene_palette(), or -1 when the
// background grey is nearer or the nearest colour is farther than max_distance.
int nearest_scene_colour(const uint8_t* rgb, double max_distance);

// Objects, largest first.
std::vector<DetectedObject> parse_scene(const Image& image, const ParseOptions& options = {});

struct GenEvalResult {
  bool pass = false;          // GenEval's `correct`
  bool object_found = false;  // every included shape is there at least once
  bool count_ok = false;      // every include count is met and no exclude is hit
  bool color_ok = false;      // every colour requirement holds (false when not checkable)
  bool position_ok = false;   // every relation holds (false when not checkable)
  std::string reason;         // why it failed, one line per failed check ("" when it passed)
  std::vector<DetectedObject> objects;
};

// A graded form of GenEval's rule for RL rewards, in [0, 1]: 1 exactly when the image passes;
// otherwise 0.9 x the mean over the include clauses of the share of each clause's requirements
// met (its shape's count, min(found, count) / count; its colour, matching objects among the
// first `count` of the shape / count, when asked; its relation, when asked, by position_ok),
// halved for every exclude clause violated. A model that rarely passes still sees which of its
// samples come closer.
double geneval_graded_score(const GenEvalResult& result, const SceneMetadata& metadata);

// The share of the image free of colour the prompt did not ask for, in [0, 1]: 1 - (foreground
// pixels outside the asked-for objects) / (all pixels). Foreground: pixels nearer a palette
// colour than the background grey, blended edges included; the asked-for objects: those
// score_geneval matches to the include clauses (each clause's `count` largest of its shape). A
// clean render of its own scene gives 1, and so does an empty image; every extra object, patch
// or smear lowers it by its area, whether or not the image passes. GenEval has no such rule (its
// detector finds nothing in clutter); it guards RL rewards against a policy that fills the image
// with colour until the parser finds the asked-for shapes somewhere (docs/RL.md).
double geneval_clean_fraction(const Image& image, const GenEvalResult& result,
                              const SceneMetadata& metadata);

// The relations of a box to another by GenEval's rule (subset of "left of", "right of",
// "above", "below").
std::vector<std::string> geneval_relations(const std::array<double, 4>& a,
                                           const std::array<double, 4>& b, double threshold = 0.1);

GenEvalResult score_geneval(const std::vector<DetectedObject>& objects,
                            const SceneMetadata& metadata);
GenEvalResult score_geneval(const Image& image, const SceneMetadata& metadata,
                            const ParseOptions& options = {});
GenEvalResult score_geneval(const Image& image, const std::string& metadata_json,
                            const ParseOptions& options = {});

}  // namespace xomni::world
