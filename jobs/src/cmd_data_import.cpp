// xomni data import: a folder of PNG/JPEG images plus a JSONL caption file -> image shards
// (samples of kind "imported", resized X-Omni style when --short-edge is given).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "cmd_data.h"
#include "staged_folder.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int64_t int_option(std::vector<std::string>& args, const std::string& flag, int64_t fallback,
                   int64_t min) {
  const std::string v = take_option(args, flag);
  if (v.empty()) return fallback;
  int64_t x = 0;
  try {
    size_t used = 0;
    x = std::stoll(v, &used);
    XOMNI_CHECK(used == v.size(), "");
  } catch (const std::exception&) {
    throw Error(flag + " '" + v + "' is not an integer");
  }
  XOMNI_CHECK(x >= min, flag, " must be >= ", min, " (got ", x, ")");
  return x;
}

int import(std::vector<std::string> args) {
  const std::string images = take_option(args, "--images");
  const std::string captions = take_option(args, "--captions");
  const std::string out = take_option(args, "--out");
  const int64_t short_edge = int_option(args, "--short-edge", 0, 1);
  const int64_t max_long = int_option(args, "--max-long-edge", 0, 1);
  const int64_t per_shard = int_option(args, "--samples-per-shard", 1000, 1);
  const bool overwrite = take_flag(args, "--overwrite");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!images.empty() && !captions.empty() && !out.empty(),
              "--images DIR, --captions FILE.jsonl and --out DIR are required");
  XOMNI_CHECK(max_long == 0 || short_edge > 0, "--max-long-edge needs --short-edge");
  // Every resized image has at least short_edge^2 pixels: refuse a size no image could take
  // before reading any (the limit is the one read_image applies, XOMNI_MAX_IMAGE_PIXELS).
  const int64_t limit = max_image_pixels();
  XOMNI_CHECK(short_edge <= limit / std::max<int64_t>(short_edge, 1), "--short-edge ", short_edge,
              " makes images of at least ", short_edge, "x", short_edge,
              " pixels, above the limit of ", limit,
              " pixels (set XOMNI_MAX_IMAGE_PIXELS to raise it)");
  XOMNI_CHECK(max_long <= limit, "--max-long-edge ", max_long, " is above the image pixel limit ",
              limit);
  std::ifstream in(captions, std::ios::binary);
  XOMNI_CHECK(in, "cannot open the caption file ", captions);

  // Written beside `out` and moved into its place when complete: an error below leaves `out`
  // as it was.
  StagedFolder staged(out, overwrite, "--overwrite");
  ImageShardWriter writer(staged.path(), per_shard);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = captions + " line " + std::to_string(line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": not valid JSON: " + e.what());
    }
    XOMNI_CHECK(j.is_object() && j.contains("file") && j["file"].is_string(), where,
                ": needs a string \"file\"");
    ImageSample s;
    s.kind = "imported";
    const bool one = j.contains("caption"), many = j.contains("captions");
    XOMNI_CHECK(one != many, where, ": needs exactly one of \"caption\" (a string) or ",
                "\"captions\" (an array of strings)");
    if (one) {
      XOMNI_CHECK(j["caption"].is_string(), where, ": \"caption\" is not a string");
      s.captions.push_back(j["caption"].get<std::string>());
    } else {
      XOMNI_CHECK(j["captions"].is_array() && !j["captions"].empty(), where,
                  ": \"captions\" is not a non-empty array");
      for (const auto& c : j["captions"]) {
        XOMNI_CHECK(c.is_string(), where, ": \"captions\" holds a non-string");
        s.captions.push_back(c.get<std::string>());
      }
    }
    const std::string file = j["file"].get<std::string>();
    const std::string path = (std::filesystem::path(images) / file).string();
    Image im;
    try {
      im = read_image(path);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    s.metadata_json =
        nlohmann::json{{"source", file}, {"original_size", {im.width, im.height}}}.dump();
    try {
      s.image = short_edge > 0 ? fit_image(im, short_edge, max_long) : std::move(im);
    } catch (const Error& e) {
      throw Error(where + ": " + path + " at --short-edge " + std::to_string(short_edge) + ": " +
                  e.what());
    }
    writer.add(s);
  }
  XOMNI_CHECK(!in.bad(), "cannot read the caption file ", captions);
  const int64_t n = writer.finish();
  staged.commit();
  std::printf("imported %lld images into %s\n", static_cast<long long>(n), out.c_str());
  return 0;
}

}  // namespace

// Called by `xomni data` (cmd_data.cpp) for `xomni data import ...`; the usage text is there.
// Each non-empty JSONL line is {"file": "a.png", "caption": "..."} or {"file": ...,
// "captions": [...]}; errors name the line. Shards hold --samples-per-shard samples (default
// 1000). A non-empty --out is refused without --overwrite; the shards are written beside it and
// take its place only when complete, so a failed import leaves the old folder as it was.
int data_import_main(const std::vector<std::string>& args) {
  return import(args);
}

}  // namespace xomni::cli
