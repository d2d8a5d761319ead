// The built-in `scene` reward: parses a synthetic-scene image (xomni_world's scene checker) and
// scores it against the sample's scene metadata with GenEval's rule for its category.
//
//   score      = 1 when the image passes (GenEval's `correct`), else 0. Denser signals for RL,
//                where a model that rarely passes would otherwise see all-zero groups:
//                `score = partial`: 1 when it passes, else the mean of the four checks below;
//                `score = graded`: world::geneval_graded_score (the share of each clause's
//                count, colour and relation met; 1 only for a pass)
//   sub-scores = object_found, count_ok, color_ok, position_ok (each 1 or 0; see scene_checker.h)
//                and clean (world::geneval_clean_fraction: the share of the image free of colour
//                the prompt did not ask for)
//   clean_weight = w in [0, 1] (default 0, GenEval's rule alone) multiplies the score by
//                (1 - w) + w * clean, a pass included: against policies that fill the image with
//                colour until the parser finds the asked-for shapes somewhere (docs/RL.md)
//
// Metadata: the per-sample JSON written by generate_scene (or any GenEval-style object with an
// "include" list of {"class", "count", "color"?, "position"?} and an optional "exclude" list).
// Config text (key = value lines, all optional): max_color_distance = 60, min_core_pixels = 6,
// score = pass (or partial, graded), clean_weight = 0.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>

#include "xomni/reward.h"
#include "xomni/world/scene_checker.h"

namespace {

thread_local std::string g_create_error;

struct SceneReward {
  xomni::world::ParseOptions options;
  enum class Score { pass, partial, graded } score = Score::pass;
  double clean_weight = 0;
  std::string error;
};

void* scene_create(const char* config) {
  try {
    auto* r = new SceneReward;
    std::istringstream in(config ? config : "");
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
      std::string key = line.substr(0, eq);
      key.erase(key.find_last_not_of(" \t") + 1);
      key.erase(0, key.find_first_not_of(" \t"));
      if (key == "score" && eq != std::string::npos) {
        std::string v = line.substr(eq + 1);
        v.erase(
            std::remove_if(v.begin(), v.end(),
                           [](char c) { return c == ' ' || c == '\t' || c == '"' || c == '\r'; }),
            v.end());
        if (v != "pass" && v != "partial" && v != "graded") {
          g_create_error = "scene: score = '" + v + "' is not pass, partial or graded";
          delete r;
          return nullptr;
        }
        r->score = v == "partial"  ? SceneReward::Score::partial
                   : v == "graded" ? SceneReward::Score::graded
                                   : SceneReward::Score::pass;
        continue;
      }
      char* end = nullptr;
      const double v = eq == std::string::npos ? 0 : std::strtod(line.c_str() + eq + 1, &end);
      if (eq == std::string::npos || end == line.c_str() + eq + 1 ||
          (key != "max_color_distance" && key != "min_core_pixels" && key != "clean_weight")) {
        g_create_error = "scene: cannot read config line '" + line +
                         "' (expected max_color_distance = <number>, min_core_pixels = <n>, "
                         "clean_weight = <0..1> or score = pass|partial|graded)";
        delete r;
        return nullptr;
      }
      if (key == "clean_weight" && !(v >= 0 && v <= 1)) {
        g_create_error = "scene: clean_weight = " + line.substr(eq + 1) + " is not in [0, 1]";
        delete r;
        return nullptr;
      }
      if (key == "clean_weight") r->clean_weight = v;
      if (key == "max_color_distance") r->options.max_color_distance = v;
      if (key == "min_core_pixels") r->options.min_core_pixels = int64_t(v);
    }
    return r;
  } catch (const std::exception& e) {
    g_create_error = std::string("scene: ") + e.what();
    return nullptr;
  }
}

int scene_score(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores) {
  auto* r = static_cast<SceneReward*>(handle);
  int32_t i = 0;
  try {
    for (; i < batch->size; ++i) {
      const XomniImage& im = batch->images[i];
      xomni::Image image;
      image.width = im.width, image.height = im.height;
      image.rgb.resize(size_t(3) * size_t(im.width) * size_t(im.height));
      for (int32_t y = 0; y < im.height; ++y)
        std::memcpy(image.rgb.data() + size_t(3) * size_t(y) * size_t(im.width),
                    im.rgb + y * im.stride, size_t(3) * size_t(im.width));
      const auto metadata = xomni::world::parse_scene_metadata(batch->metadata[i]);
      const auto res = xomni::world::score_geneval(image, metadata, r->options);
      const float checks = float(res.object_found + res.count_ok + res.color_ok + res.position_ok);
      using Score = SceneReward::Score;
      const double base = res.pass                     ? 1.0
                          : r->score == Score::partial ? checks / 4.0
                          : r->score == Score::graded
                              ? xomni::world::geneval_graded_score(res, metadata)
                              : 0.0;
      const double clean = xomni::world::geneval_clean_fraction(image, res, metadata);
      scores[i] = float(base * ((1 - r->clean_weight) + r->clean_weight * clean));
      if (sub_scores) {
        float* s = sub_scores + 5 * i;
        s[0] = res.object_found, s[1] = res.count_ok, s[2] = res.color_ok, s[3] = res.position_ok;
        s[4] = float(clean);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    r->error = "scene: sample " + std::to_string(i) + ": " + e.what();
    return 1;
  }
}

void scene_destroy(void* handle) {
  delete static_cast<SceneReward*>(handle);
}

const char* scene_last_error(void* handle) {
  return handle ? static_cast<SceneReward*>(handle)->error.c_str() : g_create_error.c_str();
}

const char* const k_sub_scores[] = {"object_found", "count_ok", "color_ok", "position_ok", "clean"};

const XomniRewardPlugin k_plugin = {
    XOMNI_REWARD_ABI_VERSION,
    "scene",
    "1.1.0",
    "GenEval rules on synthetic scenes of coloured shapes (shape/colour/position parser)",
    5,
    k_sub_scores,
    0,
    1,  // score() keeps no state but the error text, written only on failure
    scene_create,
    scene_score,
    scene_destroy,
    scene_last_error,
};

}  // namespace

extern "C" XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
