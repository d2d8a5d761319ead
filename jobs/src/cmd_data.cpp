// xomni data: the data stage. `synth` writes the synthetic world (scenes and text images) as
// image shards, `sheet` draws a contact sheet of a dataset, `prompts` writes the prompt sets;
// `import` (cmd_data_import.cpp) turns a folder of images into shards.
#include "cmd_data.h"

#include <cairo.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli.h"
#include "staged_folder.h"
#include "synth_options.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/prompt_sets.h"
#include "xomni/world/scene.h"
#include "xomni/world/text_image.h"

namespace xomni::cli {

namespace {

int64_t positive(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const int64_t x = std::stoll(v, &used);
    if (used == v.size() && x > 0) return x;
  } catch (const std::exception&) {
  }
  throw Error(flag + " wants a positive integer, got '" + v + "'");
}

int synth(std::vector<std::string> args) {
  const std::vector<std::string> overrides = take_all(args, "--set");
  const bool overwrite = take_flag(args, "--overwrite");
  XOMNI_CHECK(args.size() == 1 && args[0].rfind("--", 0) != 0,
              "usage: xomni data synth JOB.toml [--set key=value]... [--overwrite]");
  const SynthOptions o = load_synth_options(args[0], overrides);
  const uint64_t seed = o.seed;
  const int64_t counts[3] = {o.scenes, o.text_short, o.text_long};
  const int64_t total = counts[0] + counts[1] + counts[2];
  XOMNI_CHECK(total > 0, args[0], ": nothing to generate (synth.scenes, synth.text_short and ",
              "synth.text_long are all 0)");
  const world::SceneOptions& scene = o.scene;
  world::TextImageOptions text[2];
  text[0].bucket = "short", text[1].bucket = "long";
  for (auto& t : text) {
    t.textured_background = scene.textured_background;
    // Sides rounded to a multiple of 8, so a scaled image still tiles into the codec's patches.
    const auto [w, h] = world::default_text_size(t.bucket);
    auto scaled = [&](int64_t side) {
      return std::max<int64_t>(8, int64_t(std::lround(double(side) * o.text_scale / 8.0)) * 8);
    };
    t.width = scaled(w), t.height = scaled(h);
  }

  StagedFolder staged(o.out, overwrite, "--overwrite");  // the old dataset stays until done
  ImageShardWriter writer(staged.path(), o.samples_per_shard);
  // Kinds interleave in proportion to their counts (the kind whose share is furthest behind goes
  // next), so any prefix of the dataset is a fair mix; sample k of a kind is (seed, k).
  int64_t done[3] = {0, 0, 0};
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t n = 0; n < total; ++n) {
    int kind = -1;
    for (int k = 0; k < 3; ++k)
      if (done[k] < counts[k] &&
          (kind < 0 || (done[k] + 1) * counts[kind] < (done[kind] + 1) * counts[k]))
        kind = k;
    const int64_t i = done[kind]++;
    writer.add(kind == 0 ? world::generate_scene(seed, i, scene)
                         : world::generate_text_image(seed, i, text[kind - 1]));
  }
  const int64_t written = writer.finish();
  staged.commit();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %lld samples (%lld scenes, %lld short text, %lld long text) in %.2f s\n",
              o.out.c_str(), (long long)written, (long long)counts[0], (long long)counts[1],
              (long long)counts[2], secs);
  return 0;
}

// The contact sheet: a grid of cells, each the image scaled to fit the cell's picture area with
// its first caption wrapped under it.
int sheet(std::vector<std::string> args) {
  const std::string out = take_option(args, "--out");
  const std::string count_text = take_option(args, "--count");
  const std::string cols_text = take_option(args, "--columns");
  XOMNI_CHECK(!out.empty(), "--out SHEET.png is required");
  XOMNI_CHECK(args.size() == 1 && args[0].rfind("--", 0) != 0,
              "usage: xomni data sheet DATASET_DIR --out sheet.png [--count N] [--columns C]");
  const ImageDataset ds = ImageDataset::open(args[0]);
  const int64_t n = std::min(ds.size(), count_text.empty() ? 16 : positive("--count", count_text));
  XOMNI_CHECK(n > 0, args[0], " holds no samples");
  const int64_t cols = std::min(n, cols_text.empty() ? 4 : positive("--columns", cols_text));
  const int64_t rows = (n + cols - 1) / cols;
  constexpr int kPic = 256, kCaption = 56, kPad = 8;
  const int cell_w = kPic + 2 * kPad, cell_h = kPic + kCaption + 2 * kPad;
  using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
  Surface surf(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(cols) * cell_w, int(rows) * cell_h),
      cairo_surface_destroy);
  XOMNI_CHECK(cairo_surface_status(surf.get()) == CAIRO_STATUS_SUCCESS, "cannot create a sheet of ",
              cols, "x", rows, " cells");
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> crp(cairo_create(surf.get()), cairo_destroy);
  cairo_t* cr = crp.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  for (int64_t i = 0; i < n; ++i) {
    const ImageSample s = ds.get(i);
    const double x0 = double(i % cols) * cell_w + kPad, y0 = double(i / cols) * cell_h + kPad;
    if (s.image.width > 0 && s.image.height > 0) {
      Surface im(
          cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(s.image.width), int(s.image.height)),
          cairo_surface_destroy);
      cairo_surface_flush(im.get());
      unsigned char* data = cairo_image_surface_get_data(im.get());
      const int stride = cairo_image_surface_get_stride(im.get());
      for (int64_t y = 0; y < s.image.height; ++y)
        for (int64_t x = 0; x < s.image.width; ++x) {
          const uint8_t* p = s.image.at(x, y);
          reinterpret_cast<uint32_t*>(data + y * stride)[x] =
              (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
        }
      cairo_surface_mark_dirty(im.get());
      const double scale =
          std::min(double(kPic) / double(s.image.width), double(kPic) / double(s.image.height));
      cairo_save(cr);
      cairo_translate(cr, x0 + (kPic - scale * double(s.image.width)) / 2,
                      y0 + (kPic - scale * double(s.image.height)) / 2);
      cairo_scale(cr, scale, scale);
      cairo_set_source_surface(cr, im.get(), 0, 0);
      // Small scenes scale up: nearest keeps their pixels sharp.
      cairo_pattern_set_filter(cairo_get_source(cr),
                               scale > 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
      cairo_paint(cr);
      cairo_restore(cr);
    }
    // Caption: greedy word wrap into up to 4 lines of the cell's width.
    // Built by append: GCC 12 warns falsely (-Wrestrict) on the chained operator+ form.
    std::string caption = "#";
    caption.append(std::to_string(i)).append(" ").append(s.kind).append(": ");
    if (!s.captions.empty()) caption.append(s.captions[0]);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    std::vector<std::string> lines(1);
    size_t pos = 0;
    while (pos < caption.size() && lines.size() <= 4) {
      size_t end = caption.find(' ', pos);
      if (end == std::string::npos) end = caption.size();
      const std::string word = caption.substr(pos, end - pos);
      const std::string cand = lines.back().empty() ? word : lines.back() + " " + word;
      cairo_text_extents_t e;
      cairo_text_extents(cr, cand.c_str(), &e);
      if (!lines.back().empty() && e.x_advance > kPic)
        lines.push_back(word);
      else
        lines.back() = cand;
      pos = end + 1;
    }
    if (lines.size() > 4) lines.resize(4), lines.back() += " ...";
    for (size_t l = 0; l < lines.size(); ++l) {
      cairo_move_to(cr, x0, y0 + kPic + 14 + 13 * double(l));
      cairo_show_text(cr, lines[l].c_str());
    }
  }
  cairo_surface_flush(surf.get());
  XOMNI_CHECK(cairo_surface_write_to_png(surf.get(), out.c_str()) == CAIRO_STATUS_SUCCESS,
              "cannot write ", out);
  std::printf("%s: %lld samples of %s\n", out.c_str(), (long long)n, args[0].c_str());
  return 0;
}

int prompts(std::vector<std::string> args) {
  const std::string out = take_option(args, "--out");
  const std::string seed_text = take_option(args, "--train-seed");
  const std::string count_text = take_option(args, "--train-count");
  XOMNI_CHECK(!out.empty() && args.empty(),
              "usage: xomni data prompts --out DIR [--train-seed S] [--train-count N]");
  const uint64_t seed = seed_text.empty() ? 1 : uint64_t(positive("--train-seed", seed_text));
  const int64_t count = count_text.empty() ? 10000 : positive("--train-count", count_text);
  for (const auto& f : world::write_prompt_sets(out, seed, count)) std::printf("%s\n", f.c_str());
  return 0;
}

int run(const std::vector<std::string>& argv) {
  XOMNI_CHECK(!argv.empty(), "give a sub-command: synth, sheet, prompts or import (see ",
              "xomni data --help)");
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "synth") return synth(rest);
  if (argv[0] == "sheet") return sheet(rest);
  if (argv[0] == "prompts") return prompts(rest);
  if (argv[0] == "import") return data_import_main(rest);
  if (argv[0] == "check") return data_check_main(rest);
  if (argv[0] == "mm-pack") return data_mm_pack_main(rest);
  if (argv[0] == "mm-tokenizer") return data_mm_tokenizer_main(rest);
  if (argv[0] == "realism") return data_realism_main(rest);
  if (argv[0] == "realism-eval") return data_realism_eval_main(rest);
  throw Error(
      "unknown data sub-command '" + argv[0] +
      "' (synth, sheet, prompts, import, check, mm-pack, mm-tokenizer, realism, realism-eval)");
}

const Register reg(
    {"data",
     "image datasets: synthesise, import, look at; write prompt sets; pack multimodal tokens",
     "usage: xomni data synth JOB.toml [--set key=value]... [--overwrite]\n"
     "       xomni data sheet DATASET_DIR --out sheet.png [--count N] [--columns C]\n"
     "       xomni data prompts --out DIR [--train-seed S] [--train-count N]\n"
     "       xomni data import --images DIR --captions FILE.jsonl --out DIR [...] [--overwrite]\n"
     "       xomni data check DATASET_DIR\n"
     "       xomni data mm-pack --tokenizer tokenizer.json --image-tokenizer CKPT --images DIR...\n"
     "                          --kind generation|understanding|mixture|text --out DIR [...]\n"
     "       xomni data mm-tokenizer (--images DIR | --input FILE)... --vocab-size N\n"
     "                               --out tokenizer.json [--overwrite]\n"
     "       xomni data realism --decoder CKPT [--tokenizer CKPT] --images DIR --count N\n"
     "                          --out DIR [--heldout M] [--steps K] [--seed S] [--overwrite]\n"
     "       xomni data realism-eval --checkpoint CKPT DATASET_DIR\n\n"
     "synth: writes scenes (GenEval categories in turn, image_size square) and text images\n"
     "(short 256x64, long 512x256, times text_scale) as image shards; keys of the [synth]\n"
     "table: seed, out, samples_per_shard, scenes, text_short, text_long, image_size,\n"
     "text_scale, textured_background (see\n"
     "jobs/tiny/synth.toml). Sample k of each kind is a function of (seed, k): the same job\n"
     "writes the same bytes.\n"
     "synth and import refuse a non-empty output folder without --overwrite; they write beside\n"
     "it and replace it only when the new dataset is complete.\n"
     "sheet: draws the first N samples (default 16) in a grid with their first caption.\n"
     "prompts: writes the fixed evaluation prompt sets (geneval, text_short, text_long,\n"
     "vqa_text, vqa_scene) and a training pool train.jsonl (N prompts, default 10000) as JSONL.\n"
     "import: a folder of PNG/JPEG images plus a JSONL caption file -> image shards\n"
     "(--images DIR --captions FILE.jsonl --out DIR [--short-edge N [--max-long-edge M]]\n"
     "[--samples-per-shard K]).\n"
     "check: scores every scene sample against its prompt metadata with GenEval's rules\n"
     "(the scene checker) and prints the pass rate per category.\n"
     "mm-pack: image datasets -> loss-masked multimodal token shards (ids: text, then\n"
     "text vocabulary + image code), multimodal.json and a copy of tokenizer.json. generation:\n"
     "{caption}<SOM>{h} {w}<IMAGE>{codes}<EOM>, loss on codes and <EOM>; understanding:\n"
     "<SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\\n{answer}<|endoftext|>, loss on the answer\n"
     "and <|endoftext|>, one per question (a captioning one when an image has none); mixture:\n"
     "both; text: captions, questions with answers and the paragraphs of --input FILEs, every\n"
     "token counted (--image-tokenizer optional). Captions are drawn per image with --seed S.\n"
     "Options: --decoder CKPT (recorded), --size N [--max-size M] (resize first), --batch B,\n"
     "--tokens-per-shard T, --questions-per-document N (an image's questions as N turns\n"
     "after one copy of the image; default 1), --overwrite. See docs/DATA.md.\n"
     "mm-tokenizer: a byte-level BPE of N entries learnt from the captions, questions and\n"
     "answers of the datasets and the paragraphs of the files, with the special tokens\n"
     "<|endoftext|>, <SOM>, <EOM>, <IMAGE>.\n"
     "realism: labelled images for the realism scorer (run.stage = \"realism\"): each of the\n"
     "first N images' codes rendered by the decoder clean (kind \"clean\") and corrupted\n"
     "(\"corrupted\": random codes, shuffled rows/blocks or one code repeated) -> OUT/train;\n"
     "the next M (default N/4) -> OUT/heldout, and OUT/heldout_real (the images' own pixels,\n"
     "kind \"real\", against the same corrupted renderings). --steps K: decoder steps (0: its\n"
     "default); --size N: resize first; --batch B. See docs/REALISM.md.\n"
     "realism-eval: a realism-stage checkpoint's accuracy and mean score on such a dataset,\n"
     "per sample kind and per kind of corruption.",
     run});

}  // namespace
}  // namespace xomni::cli
