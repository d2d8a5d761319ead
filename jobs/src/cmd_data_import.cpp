// xomni data import: a folder of PNG/JPEG images plus a JSONL caption file -> image shards
// (samples of kind "imported", resized X-Omni style when --short-edge is given).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "cmd_data.h"
#include "staged_folder.h"
#include "xomni/core/data/caption_file.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int import(std::vector<std::string> args) {
  const std::string images = take_option(args, "--images");
  const std::string captions = take_option(args, "--captions");
  const std::string out = take_option(args, "--out");
  const int64_t short_edge = parse_int(take_option(args, "--short-edge"), "--short-edge", 0, 1);
  const int64_t max_long = parse_int(take_option(args, "--max-long-edge"), "--max-long-edge", 0, 1);
  const int64_t per_shard =
      parse_int(take_option(args, "--samples-per-shard"), "--samples-per-shard", 1000, 1);
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
  // Every line is checked before the first image is read.
  const std::vector<CaptionRecord> records = read_caption_file(captions);

  // Written beside `out` and moved into its place when complete: an error below leaves `out`
  // as it was.
  StagedFolder staged(out, overwrite, "--overwrite");
  ImageShardWriter writer(staged.path(), per_shard);
  for (const CaptionRecord& r : records) {
    const std::string where = captions + " line " + std::to_string(r.line);
    ImageSample s;
    s.kind = "imported";
    s.captions = r.captions;
    const std::string path = (std::filesystem::path(images) / r.file).string();
    Image im;
    try {
      im = read_image(path);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    s.metadata_json =
        nlohmann::json{{"source", r.file}, {"original_size", {im.width, im.height}}}.dump();
    try {
      s.image = short_edge > 0 ? fit_image(im, short_edge, max_long) : std::move(im);
    } catch (const Error& e) {
      throw Error(where + ": " + path + " at --short-edge " + std::to_string(short_edge) + ": " +
                  e.what());
    }
    writer.add(s);
  }
  const int64_t n = writer.finish();
  staged.commit();
  std::printf("imported %lld images into %s\n", static_cast<long long>(n), out.c_str());
  return 0;
}

}  // namespace

// Called by `xomni data` (cmd_data.cpp) for `xomni data import ...`; the usage text is there.
// The caption file's format is in xomni/core/data/caption_file.h and docs/DATA.md. Shards hold
// --samples-per-shard samples (default 1000). A non-empty --out is refused without --overwrite; the
// shards are written beside it and take its place only when complete, so a failed import leaves the
// old folder as it was.
int data_import_main(const std::vector<std::string>& args) {
  return import(args);
}

}  // namespace xomni::cli
