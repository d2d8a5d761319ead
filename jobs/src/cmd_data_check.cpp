// `xomni data check DATASET_DIR`: the GenEval-style evaluation metric over a dataset of images
// with their prompt metadata (generated images saved with their prompts, or synthetic scenes):
// the scene checker's pass rate per category and overall.
#include <cstdio>
#include <map>

#include "cli.h"
#include "cmd_data.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/scene_checker.h"

namespace xomni::cli {

int data_check_main(const std::vector<std::string>& args) {
  XOMNI_CHECK(args.size() == 1, "usage: xomni data check DATASET_DIR");
  const ImageDataset data = ImageDataset::open(args[0]);
  struct Tally {
    int64_t passed = 0, total = 0;
  };
  std::map<std::string, Tally> by_category;
  Tally all;
  for (int64_t i = 0; i < data.size(); ++i) {
    const ImageSample s = data.get(i);
    if (s.kind != "scene") continue;
    const world::SceneMetadata meta = world::parse_scene_metadata(s.metadata_json);
    const bool pass = world::score_geneval(s.image, meta).pass;
    Tally& t = by_category[meta.category];
    t.passed += pass;
    t.total += 1;
    all.passed += pass;
    all.total += 1;
  }
  XOMNI_CHECK(all.total > 0, args[0], " holds no scene samples to check");
  std::printf("| category | passed | accuracy |\n|---|---:|---:|\n");
  for (const auto& [category, t] : by_category)
    std::printf("| %s | %lld/%lld | %.4f |\n", category.c_str(), static_cast<long long>(t.passed),
                static_cast<long long>(t.total), double(t.passed) / double(t.total));
  std::printf("| overall | %lld/%lld | %.4f |\n", static_cast<long long>(all.passed),
              static_cast<long long>(all.total), double(all.passed) / double(all.total));
  return 0;
}

}  // namespace xomni::cli
