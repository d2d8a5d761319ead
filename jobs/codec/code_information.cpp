// Per-patch labels of a scene and what the code ids tell about them (code_information.h).
#include "codec/code_information.h"

#include <algorithm>
#include <cmath>

#include "xomni/core/tensor/error.h"
#include "xomni/world/scene_checker.h"

namespace xomni::codec {
namespace {

double entropy_bits(const std::map<int64_t, int64_t>& counts) {
  double total = 0, h = 0;
  for (const auto& [label, n] : counts) total += double(n);
  for (const auto& [label, n] : counts)
    if (n > 0) h -= double(n) / total * std::log2(double(n) / total);
  return h;
}

int64_t majority(const std::map<int64_t, int64_t>& counts) {
  return std::max_element(counts.begin(), counts.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

}  // namespace

std::vector<PatchLabels> label_scene_patches(const Image& image,
                                             const world::SceneMetadata& metadata, int64_t patch) {
  XOMNI_CHECK(patch > 0 && image.width % patch == 0 && image.height % patch == 0,
              "label_scene_patches: a ", image.width, "x", image.height,
              " image does not split into patches of ", patch);
  const int64_t gh = image.height / patch, gw = image.width / patch;
  const size_t colours = world::scene_palette().size();
  const double max_distance = world::ParseOptions{}.max_color_distance;  // as the scene checker
  std::vector<PatchLabels> out(size_t(gh * gw));
  for (int64_t py = 0; py < gh; ++py)
    for (int64_t px = 0; px < gw; ++px) {
      std::vector<int64_t> count(colours, 0);
      for (int64_t y = py * patch; y < (py + 1) * patch; ++y)
        for (int64_t x = px * patch; x < (px + 1) * patch; ++x)
          if (const int c = world::nearest_scene_colour(image.at(x, y), max_distance); c >= 0)
            ++count[size_t(c)];
      const auto top = std::max_element(count.begin(), count.end());
      PatchLabels& l = out[size_t(py * gw + px)];
      if (4 * *top < patch * patch) continue;  // background
      l.object = 1;
      l.colour = top - count.begin();
      // The shape of the first object of that colour whose box overlaps the patch.
      const std::string colour_name = world::scene_palette()[size_t(l.colour)].name;
      for (const world::SceneObject& o : metadata.objects) {
        const bool overlaps = o.box[0] < (px + 1) * patch && px * patch < o.box[2] &&
                              o.box[1] < (py + 1) * patch && py * patch < o.box[3];
        if (overlaps && o.color == colour_name) {
          l.shape = world::shape_index(o.shape);
          break;
        }
      }
    }
  return out;
}

void CodeLabelTally::add(int64_t code, int64_t label, bool fit_half) {
  ++(fit_half ? fit_ : probe_)[code][label];
}

nlohmann::json CodeLabelTally::summary() const {
  // Plug-in entropies over both halves.
  std::map<int64_t, std::map<int64_t, int64_t>> all = fit_;
  for (const auto& [code, labels] : probe_)
    for (const auto& [label, n] : labels) all[code][label] += n;
  std::map<int64_t, int64_t> marginal;
  double patches = 0, conditional = 0;
  for (const auto& [code, labels] : all)
    for (const auto& [label, n] : labels) marginal[label] += n, patches += double(n);
  for (const auto& [code, labels] : all) {
    double n_code = 0;
    for (const auto& [label, n] : labels) n_code += double(n);
    conditional += n_code / std::max(patches, 1.0) * entropy_bits(labels);
  }
  // Probe: each code's majority label in the fit half, scored on the probe half.
  std::map<int64_t, int64_t> fit_marginal;
  for (const auto& [code, labels] : fit_)
    for (const auto& [label, n] : labels) fit_marginal[label] += n;
  double probed = 0, by_code = 0, by_majority = 0;
  if (!fit_marginal.empty()) {
    const int64_t overall = majority(fit_marginal);
    for (const auto& [code, labels] : probe_) {
      const auto fitted = fit_.find(code);
      const int64_t guess = fitted == fit_.end() ? overall : majority(fitted->second);
      for (const auto& [label, n] : labels) {
        probed += double(n);
        by_code += label == guess ? double(n) : 0.0;
        by_majority += label == overall ? double(n) : 0.0;
      }
    }
  }
  return {{"patches", int64_t(patches)},
          {"codes", int64_t(all.size())},
          {"entropy_bits", entropy_bits(marginal)},
          {"conditional_entropy_bits", conditional},
          {"probe_accuracy", probed > 0 ? by_code / probed : 0.0},
          {"majority_accuracy", probed > 0 ? by_majority / probed : 0.0}};
}

void CodeInformation::add_image(const std::vector<int64_t>& codes,
                                const std::vector<PatchLabels>& labels, bool fit_half) {
  XOMNI_CHECK(codes.size() == labels.size(), "code information: ", codes.size(), " codes for ",
              labels.size(), " labelled patches");
  for (size_t i = 0; i < codes.size(); ++i) {
    object_.add(codes[i], labels[i].object, fit_half);
    if (labels[i].colour >= 0) colour_.add(codes[i], labels[i].colour, fit_half);
    if (labels[i].shape >= 0) shape_.add(codes[i], labels[i].shape, fit_half);
    if (labels[i].object == 0) background_position_.add(codes[i], int64_t(i), fit_half);
  }
}

nlohmann::json CodeInformation::summary() const {
  return {{"object", object_.summary()},
          {"colour", colour_.summary()},
          {"shape", shape_.summary()},
          {"background_position", background_position_.summary()}};
}

}  // namespace xomni::codec
