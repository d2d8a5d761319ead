// Scene metadata JSON (prompt files carry it to the `scene` reward and the GenEval-like metric):
// parsing, writing back (must parse to the same JSON), and scoring a small image against it.
#include <cstdio>
#include <cstdlib>

#include "fuzz_target.h"
#include "xomni/world/scene.h"
#include "xomni/world/scene_checker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_scene_metadata", [&] {
    const std::string text(xomni::fuzz::as_text(data, size));
    const xomni::world::SceneMetadata meta = xomni::world::parse_scene_metadata(text);
    const std::string json = xomni::world::scene_metadata_to_json(meta);
    if (xomni::world::scene_metadata_to_json(xomni::world::parse_scene_metadata(json)) != json) {
      std::fprintf(stderr, "fuzz_scene_metadata: write + parse changed the metadata\n");
      std::abort();
    }
    xomni::world::score_geneval(xomni::Image(32, 32, 200, 30, 30), meta);
  });
}
