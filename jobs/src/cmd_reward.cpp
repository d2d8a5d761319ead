// xomni reward score: runs the rewards of a reward job file on images and prints the weighted
// total and every sub-score, one block per image.
#include <cairo.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/reward_set.h"

namespace xomni::cli {
namespace {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Binary PPM (P6, maxval 255).
Image read_ppm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "cannot open image ", path);
  std::string magic;
  int maxval = 0;
  Image im;
  in >> magic;
  auto skip_comments = [&] {
    in >> std::ws;
    while (in.peek() == '#') {
      std::string line;
      std::getline(in, line);
      in >> std::ws;
    }
  };
  skip_comments();
  in >> im.width;
  skip_comments();
  in >> im.height;
  skip_comments();
  in >> maxval;
  XOMNI_CHECK(in && magic == "P6" && maxval == 255 && im.width > 0 && im.height > 0, path,
              ": not a binary PPM (P6, maxval 255)");
  in.get();
  im.rgb.resize(size_t(im.width) * im.height * 3);
  in.read(reinterpret_cast<char*>(im.rgb.data()), std::streamsize(im.rgb.size()));
  XOMNI_CHECK(in, path, ": the PPM pixel data is truncated");
  return im;
}

// PNG through Cairo (ARGB32 is premultiplied: divide the alpha back out).
Image read_png(const std::string& path) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  const cairo_status_t st = cairo_surface_status(s);
  if (st != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    throw Error("cannot read PNG " + path + ": " + cairo_status_to_string(st));
  }
  cairo_surface_flush(s);
  Image im;
  im.width = cairo_image_surface_get_width(s);
  im.height = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const cairo_format_t fmt = cairo_image_surface_get_format(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  im.rgb.resize(size_t(im.width) * im.height * 3);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      uint32_t px;
      std::memcpy(&px, data + size_t(y) * stride + 4 * x, 4);
      const uint32_t a = fmt == CAIRO_FORMAT_ARGB32 ? px >> 24 : 255;
      for (int c = 0; c < 3; ++c) {
        uint32_t v = (px >> (16 - 8 * c)) & 0xff;
        if (a != 255) v = a ? std::min<uint32_t>(255, (v * 255 + a / 2) / a) : 0;
        im.rgb[(size_t(y) * im.width + x) * 3 + c] = uint8_t(v);
      }
    }
  cairo_surface_destroy(s);
  return im;
}

Image read_image(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".png") == 0 ? read_png(path)
                                                                          : read_ppm(path);
}

std::vector<std::string> take_all(std::vector<std::string>& args, const std::string& flag) {
  std::vector<std::string> out;
  for (std::string v = take_option(args, flag); !v.empty(); v = take_option(args, flag))
    out.push_back(v);
  return out;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  XOMNI_CHECK(!args.empty() && args[0] == "score",
              "usage: xomni reward score <rewards.toml> --image IMG --prompt TEXT");
  args.erase(args.begin());
  const std::vector<std::string> images = take_all(args, "--image");
  const std::vector<std::string> prompts = take_all(args, "--prompt");
  std::vector<std::string> metadata = take_all(args, "--metadata");
  XOMNI_CHECK(args.size() == 1, "expected one reward job file, got ", args.size(), " arguments");
  XOMNI_CHECK(!images.empty(), "--image is required (PNG, or binary PPM)");
  XOMNI_CHECK(prompts.size() == images.size(), images.size(), " --image but ", prompts.size(),
              " --prompt; give one prompt per image");
  XOMNI_CHECK(metadata.empty() || metadata.size() == images.size(),
              "give --metadata once per image or not at all");
  const plugins::RewardSet set = plugins::RewardSet::load(args[0]);
  std::vector<Image> loaded;
  std::vector<XomniImage> views;
  for (const std::string& path : images) loaded.push_back(read_image(path));
  for (const Image& im : loaded)
    views.push_back({im.rgb.data(), im.width, im.height, int64_t(im.width) * 3});
  const plugins::RewardScores s = set.score(views, prompts, metadata);
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
     "                          [--image IMG --prompt TEXT ...]\n\n"
     "Loads every [[rewards]] entry of the file (plugin by name on the plugin search path or by\n"
     "path, weight, label, config), scores each image (PNG or binary PPM) with its prompt and\n"
     "metadata JSON, and prints the weighted total and every reward's score and sub-scores.",
     run});

}  // namespace
}  // namespace xomni::cli
