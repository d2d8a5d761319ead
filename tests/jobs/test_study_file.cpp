// The study pipeline's plan (jobs/study/): the study file with its scales and command-line
// overrides, its refusals (naming file, line and key), and the recipe's wiring: which folders and
// final checkpoints each stage's commands read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "check.h"
#include "study/study_file.h"
#include "study/study_stages.h"

namespace xomni {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::error_message;

const char* kStudy = R"(# a test study
[study]
name = "t"
root = "runs"
seed = 3

[synth]
job = "synth.toml"
set = ["synth.scenes=100"]
valid_set = ["synth.seed=2"]

[siglip]
job = "siglip.toml"
set = ["train.steps=10"]
args = ["--a"]

[vq]
job = "vq.toml"

[decoder]
job = "decoder.toml"

[codec-eval]
args = ["--count", "5"]

[s1]
job = "s1.toml"

[s2]
job = "s2.toml"

[eval-s2]
sets = ["vqa_scene"]

[scales.small.siglip]
set = ["train.steps=2"]
args = ["--b"]
expect_s = 7
[scales.small.synth]
valid_set = ["synth.seed=5"]
)";

std::string join_args(const std::vector<std::string>& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : " ") + x;
  return s;
}

study::StudyFile parse(const std::string& text, const std::vector<std::string>& sets = {}) {
  return study::parse_study_file(text, "study.toml", "/base", sets, study::recipe_stage_keys());
}

TEST(StudyFile, ReadsStagesAndAppliesTheChosenScale) {
  const study::StudyFile d = parse(kStudy);
  EXPECT_EQ(d.name, "t");
  EXPECT_EQ(d.scale, "default");
  EXPECT_EQ(d.root, "/base/runs");
  EXPECT_EQ(d.seed_root(), "/base/runs/seed-3");
  EXPECT_EQ(d.stage("siglip").job, "/base/siglip.toml");
  EXPECT_EQ(d.stage("siglip").set, std::vector<std::string>{"train.steps=10"});
  EXPECT_EQ(d.stage("siglip").expect_s, 0);

  // The scale's `set` comes after the stage's (the later override wins); other keys replace.
  const study::StudyFile s = parse(kStudy, {"study.scale=small", "siglip.train.batch_size=4"});
  EXPECT_EQ(s.stage("siglip").set,
            (std::vector<std::string>{"train.steps=10", "train.steps=2", "train.batch_size=4"}));
  EXPECT_EQ(s.stage("siglip").args, std::vector<std::string>{"--b"});
  EXPECT_EQ(s.stage("siglip").expect_s, 7);
  EXPECT_EQ(s.stage("synth").lists.at("valid_set"), std::vector<std::string>{"synth.seed=5"});
  EXPECT_EQ(s.stage("synth").set, std::vector<std::string>{"synth.scenes=100"});

  const study::StudyFile o = parse(kStudy, {"study.seed=9", "study.root=/elsewhere"});
  EXPECT_EQ(o.seed_root(), "/elsewhere/seed-9");
}

TEST(StudyFile, RefusalsNameTheFileLineAndKey) {
  const std::string text = std::string(kStudy) + "[s9]\n";
  const auto line = std::count(text.begin(), text.end(), '\n');  // the last line
  EXPECT_TRUE(contains(error_message([&] { parse(text); }),
                       "study.toml:" + std::to_string(line) + ": [s9]: unknown section"));
  EXPECT_TRUE(contains(error_message([] { parse("[vq]\njob = \"v\"\nstep = 3\n"); }),
                       "study.toml:3: vq.step: unknown key"));
  EXPECT_TRUE(contains(error_message([] { parse("[vq]\nset = [\"train.steps\"]\n"); }),
                       "'train.steps' is not KEY=VALUE"));
  EXPECT_TRUE(contains(error_message([] { parse("[vq]\nset = \"x=1\"\n"); }),
                       "vq.set: expected an array of strings"));
  EXPECT_TRUE(contains(error_message([] { parse(kStudy, {"study.scale=huge"}); }),
                       "unknown scale 'huge' (the file defines: default, small)"));
  EXPECT_TRUE(contains(error_message([] { parse(kStudy, {"sigleep.train.steps=1"}); }),
                       "unknown stage 'sigleep'"));
  EXPECT_TRUE(contains(error_message([] { parse(kStudy, {"study.seed=-1"}); }),
                       "the seed is an integer >= 0"));
  EXPECT_TRUE(contains(error_message([] { parse("[study\n"); }), "TOML syntax error"));
  EXPECT_TRUE(contains(error_message([] { parse("[scales.small.bogus]\n"); }),
                       "[scales.small.bogus]: unknown stage"));
}

TEST(StudyStages, PlannedInRecipeOrderOnlyWhereTheFileHasASection) {
  std::vector<std::string> names;
  for (const auto& st : study::planned_stages(parse(kStudy))) names.push_back(st.name);
  EXPECT_EQ(names, (std::vector<std::string>{"synth", "siglip", "vq", "decoder", "codec-eval", "s1",
                                             "s2", "eval-s2"}));
}

// Makes <root>/<stage>/checkpoints/ckpt-<step>.h5 files (names only: the plan reads no content).
void touch_checkpoints(const study::StudyFile& s, const std::string& stage,
                       const std::vector<std::string>& files) {
  const fs::path dir = fs::path(study::stage_dir(s, stage)) / "checkpoints";
  fs::create_directories(dir);
  for (const auto& f : files) std::ofstream(dir / f) << "x";
}

TEST(StudyStages, EachStageReadsTheFoldersAndFinalCheckpointsBeforeIt) {
  const fs::path tmp = fs::temp_directory_path() / ("xomni_study_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  const study::StudyFile s = parse(kStudy, {"study.root=" + tmp.string()});
  const std::string root = tmp.string() + "/seed-3";

  // Not run yet: a dry run shows a placeholder, a real one refuses naming the stage to run.
  const auto dry = study::stage_commands(s, "vq", true);
  ASSERT_EQ(dry.size(), 1u);
  EXPECT_TRUE(contains(join_args(dry[0]), "tokenizer.checkpoint=<final checkpoint of siglip>"));
  EXPECT_TRUE(contains(error_message([&] { study::stage_commands(s, "vq", false); }),
                       "run 'siglip' first"));

  // The newest checkpoint by step, not by name order of other files.
  touch_checkpoints(s, "siglip", {"ckpt-00000009.h5", "ckpt-00000010.h5", "notes.txt"});
  EXPECT_EQ(study::final_checkpoint(s, "siglip"), root + "/siglip/checkpoints/ckpt-00000010.h5");
  const std::string vq = join_args(study::stage_commands(s, "vq", false)[0]);
  EXPECT_TRUE(contains(vq, "train /base/vq.toml --set run.dir=" + root + " --set run.name=vq"));
  EXPECT_TRUE(contains(vq, "--set run.seed=3"));
  EXPECT_TRUE(contains(vq, "--set data.train=" + root + "/synth/train"));
  EXPECT_TRUE(
      contains(vq, "tokenizer.checkpoint=" + root + "/siglip/checkpoints/ckpt-00000010.h5"));

  // codec-eval reads the vq tokenizer and the decoder on the validation scenes; its args last.
  touch_checkpoints(s, "vq", {"ckpt-00000006.h5"});
  touch_checkpoints(s, "decoder", {"ckpt-00000008.h5"});
  EXPECT_EQ(join_args(study::stage_commands(s, "codec-eval", false)[0]),
            "image eval --tokenizer " + root + "/vq/checkpoints/ckpt-00000006.h5 --decoder " +
                root + "/decoder/checkpoints/ckpt-00000008.h5 --dataset " + root +
                "/synth/valid --out " + root + "/codec-eval --no-ocr --count 5");

  // The study file's own overrides come after the wiring, so they win.
  const std::string siglip = join_args(study::stage_commands(s, "siglip", false)[0]);
  EXPECT_LT(siglip.find("data.valid="), siglip.find("train.steps=10"));
  EXPECT_EQ(siglip.substr(siglip.size() - 3), "--a");

  // Two synth commands: training, then validation with valid_set on top of the stage's set.
  const auto synth = study::stage_commands(s, "synth", false);
  ASSERT_EQ(synth.size(), 2u);
  EXPECT_TRUE(contains(join_args(synth[1]),
                       "--set synth.scenes=100 --set synth.seed=2 --set synth.out=" + root +
                           "/synth/valid --overwrite"));

  // s2 starts from s1's final weights on the mixture shards; eval-s2 evaluates s2's.
  touch_checkpoints(s, "s1", {"ckpt-00000004.h5"});
  const std::string s2 = join_args(study::stage_commands(s, "s2", false)[0]);
  EXPECT_TRUE(contains(s2, "model.init_checkpoint=" + root + "/s1/checkpoints/ckpt-00000004.h5"));
  EXPECT_TRUE(contains(s2, "data.train=" + root + "/mmdata/mix"));
  touch_checkpoints(s, "s2", {"ckpt-00000002.h5"});
  const std::string ev = join_args(study::stage_commands(s, "eval-s2", false)[0]);
  EXPECT_TRUE(contains(ev, "eval --checkpoint " + root + "/s2/checkpoints/ckpt-00000002.h5"));
  EXPECT_TRUE(contains(ev, "--prompts " + root + "/prompts/vqa_scene.jsonl"));

  // A stage whose input stage the study lacks is refused naming both.
  EXPECT_TRUE(contains(error_message([&] { study::stage_commands(s, "sft", false); }),
                       "has no [sft] section"));
  EXPECT_TRUE(contains(error_message([&] { study::stage_commands(s, "mmdata", false); }),
                       "has no [mmdata] section"));
  fs::remove_all(tmp);
}

TEST(StudyStages, TextImagesReachTheCodecStagesAndItsEvaluation) {
  const fs::path tmp = fs::temp_directory_path() / ("xomni_study_t" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  const std::string root = tmp.string() + "/seed-3";
  // Without text_set: two synth commands, no text data in the codec, one codec-eval pass.
  const study::StudyFile plain = parse(kStudy, {"study.root=" + tmp.string()});
  EXPECT_EQ(study::stage_commands(plain, "synth", false).size(), 2u);
  EXPECT_FALSE(contains(join_args(study::stage_commands(plain, "siglip", false)[0]), "text"));

  std::string text = kStudy;
  text.replace(text.find("valid_set = [\"synth.seed=2\"]"), 0,
               "text_set = [\"synth.scenes=0\", \"synth.text_short=9\"]\n"
               "text_valid_set = [\"synth.text_short=4\"]\n");
  text += "[tokenizer]\n[mmdata]\n";
  const study::StudyFile s = parse(text, {"study.root=" + tmp.string()});
  const auto synth = study::stage_commands(s, "synth", false);
  ASSERT_EQ(synth.size(), 4u);
  // Text training: the stage's set, then text_set; text validation: valid_set, text_set, then
  // text_valid_set (later --set wins).
  EXPECT_TRUE(contains(join_args(synth[2]),
                       "--set synth.scenes=100 --set synth.scenes=0 --set synth.text_short=9 "
                       "--set synth.out=" +
                           root + "/synth/text-train --overwrite"));
  EXPECT_TRUE(contains(join_args(synth[3]),
                       "--set synth.scenes=100 --set synth.seed=2 --set synth.scenes=0 --set "
                       "synth.text_short=9 --set synth.text_short=4 --set synth.out=" +
                           root + "/synth/text-valid --overwrite"));
  for (const char* stage : {"siglip", "vq", "decoder"}) {
    touch_checkpoints(s, "siglip", {"ckpt-00000001.h5"});
    touch_checkpoints(s, "vq", {"ckpt-00000006.h5"});
    const std::string c = join_args(study::stage_commands(s, stage, false)[0]);
    EXPECT_TRUE(contains(c, "--set data.train_text=" + root +
                                "/synth/text-train --set "
                                "data.valid_text=" +
                                root + "/synth/text-valid"))
        << stage;
  }
  touch_checkpoints(s, "decoder", {"ckpt-00000008.h5"});
  const auto eval = study::stage_commands(s, "codec-eval", false);
  ASSERT_EQ(eval.size(), 2u);
  EXPECT_TRUE(contains(join_args(eval[0]), "/synth/valid --out " + root + "/codec-eval --no-ocr"));
  // The text pass reads with Tesseract (no --no-ocr) into its own folder.
  EXPECT_EQ(join_args(eval[1]),
            "image eval --tokenizer " + root + "/vq/checkpoints/ckpt-00000006.h5 --decoder " +
                root + "/decoder/checkpoints/ckpt-00000008.h5 --dataset " + root +
                "/synth/text-valid --out " + root + "/codec-eval/text-images --count 5");
  // The text tokenizer learns the text images' captions too; every token shard set holds both
  // kinds of image (training sets the training images, validation sets the validation ones).
  EXPECT_TRUE(contains(
      join_args(study::stage_commands(s, "tokenizer", false)[0]),
      "mm-tokenizer --images " + root + "/synth/train --images " + root + "/synth/text-train"));
  const auto packs = study::stage_commands(s, "mmdata", false);
  ASSERT_EQ(packs.size(), 8u);
  for (const auto& pack : packs) {
    const std::string c = join_args(pack);
    const std::string split = contains(c, "-valid --overwrite") ? "valid" : "train";
    EXPECT_TRUE(contains(c, "--images " + root + "/synth/" + split + " --images " + root +
                                "/synth/text-" + split + " --kind"))
        << c;
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace xomni
