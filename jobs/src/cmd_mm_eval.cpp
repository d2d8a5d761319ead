// xomni mm-eval: an X-Omni checkpoint measured on held-out scenes: image generation through the
// scene checker (GenEval's rules) and VQA accuracy (jobs/src/mm_eval.h).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli.h"
#include "mm_eval.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  MmEvalOptions o;
  o.checkpoint = take_option(args, "--checkpoint");
  o.dataset = take_option(args, "--dataset");
  o.multimodal = take_option(args, "--multimodal");
  o.decoder = take_option(args, "--decoder");
  o.out_dir = take_option(args, "--out");
  o.count = parse_int(take_option(args, "--count"), "--count", 200, 1, int64_t(1) << 30);
  o.batch = parse_int(take_option(args, "--batch"), "--batch", 16, 1, 4096);
  o.decoder_steps = parse_int(take_option(args, "--steps"), "--steps", 0, 0, 10000);
  o.seed = uint64_t(parse_int(take_option(args, "--seed"), "--seed", 0, 0));
  o.cfg = parse_number(take_option(args, "--cfg"), "--cfg", 1.0);
  XOMNI_CHECK(std::isfinite(o.cfg), "--cfg: ", o.cfg, " is not a finite guidance scale (1: off)");
  o.generation = !take_flag(args, "--no-generation");
  o.understanding = !take_flag(args, "--no-understanding");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0],
              "' (see xomni mm-eval --help)");
  XOMNI_CHECK(!o.checkpoint.empty(), "--checkpoint CKPT.h5 is required");
  XOMNI_CHECK(!o.dataset.empty(), "--dataset DIR is required (held-out scenes)");
  XOMNI_CHECK(o.generation || o.understanding, "nothing to do: both parts are switched off");
  if (!o.out_dir.empty()) std::filesystem::create_directories(o.out_dir);
  const nlohmann::json r = evaluate_mm_model(o);
  if (!o.out_dir.empty()) {
    std::ofstream(o.out_dir + "/results.json") << r.dump(2) << "\n";
  }
  if (r.contains("generation"))
    std::printf("generation: scene checker pass rate %.3f over %d scenes, %.1f image tokens/s\n",
                r["generation"]["overall"].get<double>(), r["scenes"].get<int>(),
                r["generation"]["image_tokens_per_s"].get<double>());
  if (r.contains("understanding"))
    std::printf("understanding: VQA accuracy %.3f over %d questions\n",
                r["understanding"]["vqa_accuracy"].get<double>(),
                r["understanding"]["asked"].get<int>());
  std::printf("%s\n", r.dump(2).c_str());
  return 0;
}

const Register reg(
    {"mm-eval", "an X-Omni checkpoint on held-out scenes: generation (scene checker) and VQA",
     "usage: xomni mm-eval --checkpoint CKPT.h5 --dataset DIR [--count N] [--batch B]\n"
     "                     [--decoder CKPT] [--steps S] [--cfg G] [--seed S]\n"
     "                     [--multimodal FILE] [--no-generation] [--no-understanding]\n"
     "                     [--out DIR]\n\n"
     "The first N scenes (200) of the image dataset DIR: each scene's prompt is sampled\n"
     "into image codes (temperature 1, min-p 0.03; --cfg G for guidance), rendered by the\n"
     "decoder (multimodal.json's, or --decoder) and scored by the scene checker with\n"
     "GenEval's rules against the scene's own metadata; every question of the scene is\n"
     "answered greedily from its image codes (exact match). Prints the results as JSON and,\n"
     "with --out, writes results.json, generations.jsonl (per scene: prompt, category,\n"
     "pass, codes) and generations.png (the first 16 images).",
     run});

}  // namespace
}  // namespace xomni::cli
