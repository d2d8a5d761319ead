// xomni eval: an X-Omni checkpoint scored on prompt files (jobs/src/study_eval.h).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "study_eval.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

// "1,1.5,3" -> {1, 1.5, 3}; each a finite scale, none twice.
std::vector<double> parse_cfg_list(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const double g = parse_number(item, "--cfg", NAN);
    XOMNI_CHECK(std::isfinite(g), "--cfg: '", item, "' in '", text,
                "' is not a finite guidance scale (1: off)");
    for (const double h : out)
      XOMNI_CHECK(h != g, "--cfg: ", g, " is listed twice in '", text, "'");
    out.push_back(g);
  }
  XOMNI_CHECK(!out.empty(), "--cfg: '", text, "' lists no scale (e.g. --cfg 1,1.5,3,5)");
  return out;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  StudyEvalOptions o;
  o.checkpoint = take_option(args, "--checkpoint");
  o.prompt_files = take_all(args, "--prompts");
  o.out_dir = take_option(args, "--out");
  const std::string cfg = take_option(args, "--cfg");
  o.cfg = parse_cfg_list(cfg.empty() ? "1" : cfg);
  o.count = parse_int(take_option(args, "--count"), "--count", 0, 0, int64_t(1) << 30);
  o.batch = parse_int(take_option(args, "--batch"), "--batch", 16, 1, 4096);
  o.decoder_steps = parse_int(take_option(args, "--decoder-steps"), "--decoder-steps", 0, 0, 10000);
  o.seed = uint64_t(parse_int(take_option(args, "--seed"), "--seed", 0, 0));
  o.seen = take_all(args, "--seen");
  o.multimodal = take_option(args, "--multimodal");
  o.decoder = take_option(args, "--decoder");
  o.workers = int(parse_int(take_option(args, "--workers"), "--workers", 2, 0, 256));
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0],
              "' (see xomni eval --help)");
  XOMNI_CHECK(!o.checkpoint.empty(), "--checkpoint CKPT.h5 is required");
  XOMNI_CHECK(!o.prompt_files.empty(), "--prompts FILE.jsonl is required (repeatable)");
  XOMNI_CHECK(!o.out_dir.empty(), "--out DIR is required");
  const nlohmann::json r = evaluate_prompt_files(o);
  std::printf("%s", results_table(r).c_str());
  for (const auto& f : r["prompt_files"])
    if (!f["errors"].empty())
      std::printf("%s: %zu malformed line(s) skipped (listed in results.json)\n",
                  f["path"].get<std::string>().c_str(), f["errors"].size());
  std::printf("results: %s/results.json (%.1f s)\n", o.out_dir.c_str(),
              r["timing"]["total_s"].get<double>());
  return 0;
}

const Register reg(
    {"eval", "an X-Omni checkpoint on prompt files: GenEval-like, text rendering, VQA, CFG",
     "usage: xomni eval --checkpoint CKPT.h5 --prompts FILE.jsonl [--prompts FILE ...]\n"
     "                  --out DIR [--cfg 1,1.5,3,5] [--count N] [--batch B]\n"
     "                  [--decoder-steps S] [--seed S] [--seen DATASET ...]\n"
     "                  [--multimodal FILE] [--decoder CKPT] [--workers K]\n\n"
     "Scores the prompts of JSONL files as `xomni data prompts` writes them (any file of\n"
     "that shape; a malformed line is reported with its line number and skipped):\n"
     "  scene  sampled at every --cfg scale (temperature 1, min-p 0.03, seed per prompt;\n"
     "         default 1, no guidance), decoded, and checked by the scene checker with\n"
     "         GenEval's rules: pass rate overall, per category, and over the prompts whose\n"
     "         text is no caption of a --seen image dataset (e.g. the training set)\n"
     "  text   the same sampling, read by Tesseract (the ocr reward, in K reward worker\n"
     "         processes, default 2): OneIG-Bench ED, CR, WAC and text score for the short\n"
     "         bucket, LongText-Bench accuracy for the long one\n"
     "  vqa    the question on the image the metadata names (a world generator and seed, or\n"
     "         a path), answered greedily: exact-match accuracy per question type and set\n"
     "--count N scores N prompts a file, spread evenly over it (all by default).\n"
     "Writes DIR/results.json (every number, the files' SHA-256 and the sampler settings;\n"
     "schema in docs/MODEL.md), DIR/samples/cfg-<g>/<set>-<index>.png and samples.jsonl\n"
     "(one line per image), DIR/understanding.jsonl (each answer) and prints a table per\n"
     "set and scale.",
     run});

}  // namespace
}  // namespace xomni::cli
