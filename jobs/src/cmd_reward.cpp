// xomni reward score: runs the rewards of a reward job file on images and prints the weighted
// total and every sub-score, one block per image.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/reward_set.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  XOMNI_CHECK(!args.empty() && args[0] == "score",
              "usage: xomni reward score <rewards.toml> --image IMG --prompt TEXT");
  args.erase(args.begin());
  const std::vector<std::string> images = take_all(args, "--image");
  const std::vector<std::string> prompts = take_all(args, "--prompt");
  std::vector<std::string> metadata = take_all(args, "--metadata");
  const std::vector<std::string> tasks = take_all(args, "--task");
  XOMNI_CHECK(args.size() == 1, "expected one reward job file, got ", args.size(), " arguments");
  XOMNI_CHECK(!images.empty(), "--image is required (PNG, JPEG or binary PPM)");
  XOMNI_CHECK(prompts.size() == images.size(), images.size(), " --image but ", prompts.size(),
              " --prompt; give one prompt per image");
  XOMNI_CHECK(metadata.empty() || metadata.size() == images.size(),
              "give --metadata once per image or not at all");
  XOMNI_CHECK(tasks.empty() || tasks.size() == images.size(),
              "give --task once per image or not at all");
  const plugins::RewardSet set = plugins::RewardSet::load(args[0]);
  std::vector<Image> loaded;
  std::vector<XomniImage> views;
  for (const std::string& path : images) loaded.push_back(read_image(path));
  for (const Image& im : loaded) views.push_back(plugins::reward_view(im));
  const plugins::RewardScores s = set.score(views, prompts, metadata, tasks);
  const size_t k = s.sub_score_names.size();
  for (size_t i = 0; i < images.size(); ++i) {
    std::printf("sample %zu (%s)\n  total %.6f\n", i, images[i].c_str(), double(s.scores[i]));
    for (size_t j = 0; j < k; ++j)
      std::printf("  %s %.6f\n", s.sub_score_names[j].c_str(), double(s.sub_scores[i * k + j]));
  }
  return 0;
}

const Register reg(
    {"reward", "score images with the rewards of a reward job file",
     "usage: xomni reward score <rewards.toml> --image IMG --prompt TEXT [--metadata JSON]\n"
     "                          [--task TASK] [--image IMG --prompt TEXT ...]\n\n"
     "Loads every [[rewards]] entry of the file (plugin by name on the plugin search path or by\n"
     "path, weight, label, config, tasks), scores each image (PNG, JPEG or binary PPM) with its\n"
     "prompt and metadata JSON, and prints the weighted total and every reward's score and\n"
     "sub-scores (nan: a reward whose tasks leave the image's --task out). --task, given once\n"
     "per image, routes it to the entries that score its task; without it every entry scores.",
     run});

}  // namespace
}  // namespace xomni::cli
