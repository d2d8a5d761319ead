#pragma once
// What the image codes say about each patch of a scene. Every patch gets labels from the original
// pixels and the scene's metadata (object or background; an object patch's palette colour and its
// object's shape), and each label is tallied against the code id the tokenizer gave the patch. The
// result says how much of each attribute survives tokenization, which is where a codec that fails
// the scene checker first loses it: a decoder cannot draw a shape its codes do not carry.
//
// Two measures per attribute:
//   conditional entropy  H(label | code) in bits beside H(label), plug-in estimates over every
//                        patch (biased low when codes are many and patches few; read it with
//                        `patches` and `codes`)
//   probe accuracy       each code's majority label, fitted on the even-numbered images and scored
//                        on the odd ones (a code unseen in the fit half predicts the overall
//                        majority), beside that overall majority's own accuracy: an honest,
//                        held-out measure of what a reader of single codes could recover
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "xomni/core/io/image.h"
#include "xomni/world/scene.h"

namespace xomni::codec {

// One patch's labels; -1 where an attribute does not apply (background has no colour or shape) or
// cannot be told (an object patch whose colour matches no object box of the metadata).
struct PatchLabels {
  int64_t object = 0;   // 1 when at least a quarter of the patch is one palette colour
  int64_t colour = -1;  // index into world::scene_palette()
  int64_t shape = -1;   // index into world::kSceneShapes
};

// Labels of the (height / patch) x (width / patch) patches of a scene image, in raster order.
std::vector<PatchLabels> label_scene_patches(const Image& image,
                                             const world::SceneMetadata& metadata, int64_t patch);

// Joint counts of (code, label) for one attribute, split into the fit and probe halves.
class CodeLabelTally {
 public:
  void add(int64_t code, int64_t label, bool fit_half);
  // {patches, codes, entropy_bits, conditional_entropy_bits, probe_accuracy, majority_accuracy}
  nlohmann::json summary() const;

 private:
  std::map<int64_t, std::map<int64_t, int64_t>> fit_, probe_;  // code -> label -> count
};

// The attributes' tallies over many images; besides the labels' three, the raster position of
// each background patch (how much of the codebook tells identical background apart by place).
class CodeInformation {
 public:
  // `codes` holds one id per patch, in the same raster order as `labels`.
  void add_image(const std::vector<int64_t>& codes, const std::vector<PatchLabels>& labels,
                 bool fit_half);
  // {"object": ..., "colour": ..., "shape": ..., "background_position": ...}
  nlohmann::json summary() const;

 private:
  CodeLabelTally object_, colour_, shape_, background_position_;
};

}  // namespace xomni::codec
