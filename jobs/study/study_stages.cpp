#include "study/study_stages.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "xomni/core/tensor/error.h"

namespace xomni::study {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

// The model stages in order, each starting from the one before it (lm0 from scratch).
const std::vector<std::string> kModelChain = {"lm0", "s1", "s2", "s3", "sft"};

std::string data_dir(const StudyFile& s, const std::string& name) {
  return stage_dir(s, "mmdata") + "/" + name;
}

// A final checkpoint another stage needs: an error naming both when it is missing.
std::string needed_checkpoint(const StudyFile& s, const std::string& stage, const std::string& of,
                              bool dry_run) {
  XOMNI_CHECK(s.stages.count(of), s.path, ": stage '", stage, "' needs the final checkpoint of '",
              of, "', but the study has no [", of, "] section");
  std::string c = final_checkpoint(s, of);
  if (c.empty() && dry_run) return "<final checkpoint of " + of + ">";
  XOMNI_CHECK(!c.empty(), "stage '", stage, "' needs the final checkpoint of '", of, "', but ",
              stage_dir(s, of), "/checkpoints holds none: run '", of, "' first");
  return c;
}

Args with_sets(Args a, const std::vector<std::string>& sets) {
  for (const auto& kv : sets) a.insert(a.end(), {"--set", kv});
  return a;
}

Args append(Args a, const Args& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

const std::string& job_of(const StudyFile& s, const std::string& stage) {
  const StageSettings& st = s.stage(stage);
  XOMNI_CHECK(!st.job.empty(), s.path, ": [", stage, "] names no job file (job = \"...\")");
  return st.job;
}

std::string value_or(const StageSettings& st, const std::string& key, const std::string& dflt) {
  auto it = st.values.find(key);
  return it == st.values.end() ? dflt : it->second;
}

std::vector<std::string> list_or_empty(const StageSettings& st, const std::string& key) {
  auto it = st.lists.find(key);
  return it == st.lists.end() ? std::vector<std::string>{} : it->second;
}

// `xomni train JOB` into <seed root>/<stage>, seeded with the study's seed; `inputs` are the
// overrides that wire the stage to earlier ones; the study file's own come last (they win).
Args train_command(const StudyFile& s, const std::string& stage, const Args& inputs) {
  Args a = {"train", job_of(s, stage),    "--set", "run.dir=" + s.seed_root(),
            "--set", "run.name=" + stage, "--set", "run.seed=" + std::to_string(s.seed)};
  for (const auto& kv : inputs) a.insert(a.end(), {"--set", kv});
  return append(with_sets(a, s.stage(stage).set), s.stage(stage).args);
}

// The study's text images: [synth] text_set names them (e.g. scenes=0, text_short=N,
// text_scale=0.5); none when it is absent.
bool has_text_images(const StudyFile& s) {
  return !list_or_empty(s.stage("synth"), "text_set").empty();
}

// Scenes into synth/{train,valid}; with text_set, text images into synth/{text-train,text-valid}
// (the validation sets add valid_set, then text_valid_set).
std::vector<Args> synth_commands(const StudyFile& s) {
  const StageSettings& st = s.stage("synth");
  const std::string dir = stage_dir(s, "synth");
  const Args base = with_sets({"data", "synth", job_of(s, "synth")}, st.set);
  auto command = [&](const Args& sets, const std::string& out) {
    return append(with_sets(base, sets), {"--set", "synth.out=" + dir + "/" + out, "--overwrite"});
  };
  const std::vector<std::string> valid = list_or_empty(st, "valid_set"),
                                 text = list_or_empty(st, "text_set");
  std::vector<Args> out = {command({}, "train"), command(valid, "valid")};
  if (has_text_images(s)) {
    std::vector<std::string> text_valid = valid;
    text_valid.insert(text_valid.end(), text.begin(), text.end());
    for (const auto& kv : list_or_empty(st, "text_valid_set")) text_valid.push_back(kv);
    out.push_back(command(text, "text-train"));
    out.push_back(command(text_valid, "text-valid"));
  }
  return out;
}

Args text_inputs(const StudyFile& s) {
  Args a;
  for (const auto& f : list_or_empty(s.stage("tokenizer"), "inputs"))
    a.insert(a.end(), {"--input", fs::path(f).is_absolute() ? f : s.dir + "/" + f});
  return a;
}

// The image datasets a stage learns from: the scenes, and the text images where the study has
// them ("train" or "valid").
Args image_datasets(const StudyFile& s, const std::string& split) {
  const std::string synth = stage_dir(s, "synth");
  Args a = {"--images", synth + "/" + split};
  if (has_text_images(s)) a.insert(a.end(), {"--images", synth + "/text-" + split});
  return a;
}

std::vector<Args> mmdata_commands(const StudyFile& s, bool dry_run) {
  const StageSettings& st = s.stage("mmdata");
  const std::string vq = needed_checkpoint(s, "mmdata", "vq", dry_run);
  const std::string decoder = needed_checkpoint(s, "mmdata", "decoder", dry_run);
  const Args train = image_datasets(s, "train"), valid = image_datasets(s, "valid");
  const std::string per_doc = value_or(st, "questions_per_document", "8");
  std::vector<Args> out;
  auto pack = [&](const std::string& name, const Args& images, const std::string& kind,
                  Args extra) {
    Args a = {"data",
              "mm-pack",
              "--tokenizer",
              stage_dir(s, "tokenizer") + "/tokenizer.json",
              "--image-tokenizer",
              vq,
              "--decoder",
              decoder};
    a = append(a, images);
    a = append(a, {"--kind", kind, "--out", data_dir(s, name), "--overwrite"});
    out.push_back(append(append(a, extra), st.args));
  };
  const Args q = {"--questions-per-document", per_doc};
  pack("text", train, "text", text_inputs(s));
  pack("text-valid", valid, "text", {});
  pack("gen", train, "generation", {});
  pack("gen-valid", valid, "generation", {});
  pack("mix", train, "mixture", q);
  pack("mix-valid", valid, "mixture", q);
  // The synthetic world has no low-quality samples: s3 and sft see other draws of each image's
  // caption (other seeds), so other phrasings of the same scenes.
  pack("hq", train, "mixture", append(q, {"--seed", "2"}));
  pack("sft", train, "mixture", append(q, {"--seed", "3"}));
  return out;
}

// Where each model stage reads its training and validation shards.
std::pair<std::string, std::string> model_stage_data(const std::string& stage) {
  if (stage == "lm0") return {"text", "text-valid"};
  if (stage == "s1") return {"gen", "gen-valid"};
  if (stage == "s2") return {"mix", "mix-valid"};
  if (stage == "s3") return {"hq", "mix-valid"};
  return {"sft", "mix-valid"};
}

std::vector<Args> model_stage_commands(const StudyFile& s, const std::string& stage, bool dry_run) {
  const auto [train, valid] = model_stage_data(stage);
  Args inputs = {"data.train=" + data_dir(s, train), "data.valid=" + data_dir(s, valid)};
  const auto at = std::find(kModelChain.begin(), kModelChain.end(), stage);
  if (at != kModelChain.begin())
    inputs.push_back("model.init_checkpoint=" + needed_checkpoint(s, stage, *(at - 1), dry_run));
  return {train_command(s, stage, inputs)};
}

std::vector<Args> codec_stage_commands(const StudyFile& s, const std::string& stage, bool dry_run) {
  const std::string synth = stage_dir(s, "synth");
  Args inputs = {"data.train=" + synth + "/train", "data.valid=" + synth + "/valid"};
  if (has_text_images(s))
    inputs.insert(inputs.end(), {"data.train_text=" + synth + "/text-train",
                                 "data.valid_text=" + synth + "/text-valid"});
  if (stage == "vq")
    inputs.push_back("tokenizer.checkpoint=" + needed_checkpoint(s, stage, "siglip", dry_run));
  if (stage == "decoder")
    inputs.push_back("tokenizer.checkpoint=" + needed_checkpoint(s, stage, "vq", dry_run));
  return {train_command(s, stage, inputs)};
}

// The trained codec (the vq tokenizer and the decoder) on the validation scenes: reconstructions,
// the scene checker, what the codes carry (docs/CODEC.md), without OCR (scenes hold no text);
// with text images, a second pass on synth/text-valid into codec-eval/text-images reads the
// originals and the reconstructions with Tesseract.
std::vector<Args> codec_eval_commands(const StudyFile& s, bool dry_run) {
  const Args codec = {"image",       "eval",
                      "--tokenizer", needed_checkpoint(s, "codec-eval", "vq", dry_run),
                      "--decoder",   needed_checkpoint(s, "codec-eval", "decoder", dry_run),
                      "--dataset"};
  const std::string synth = stage_dir(s, "synth"), out = stage_dir(s, "codec-eval");
  const Args& args = s.stage("codec-eval").args;
  std::vector<Args> commands = {
      append(append(codec, {synth + "/valid", "--out", out, "--no-ocr"}), args)};
  if (has_text_images(s))
    commands.push_back(
        append(append(codec, {synth + "/text-valid", "--out", out + "/text-images"}), args));
  return commands;
}

std::vector<Args> realism_commands(const StudyFile& s, bool dry_run) {
  const std::string data = stage_dir(s, "realism") + "/data";
  Args make = {"data",        "realism",
               "--decoder",   needed_checkpoint(s, "realism", "decoder", dry_run),
               "--tokenizer", needed_checkpoint(s, "realism", "vq", dry_run),
               "--images",    stage_dir(s, "synth") + "/train",
               "--seed",      std::to_string(s.seed),
               "--out",       data,
               "--overwrite"};
  make = append(make, list_or_empty(s.stage("realism"), "data_args"));
  return {make,
          train_command(s, "realism",
                        {"data.train=" + data + "/train", "data.valid=" + data + "/heldout"})};
}

std::vector<Args> eval_commands(const StudyFile& s, const std::string& stage, bool dry_run) {
  const std::string of = stage.substr(std::string("eval-").size());
  const StageSettings& st = s.stage(stage);
  Args a = {"eval",
            "--checkpoint",
            needed_checkpoint(s, stage, of, dry_run),
            "--seen",
            stage_dir(s, "synth") + "/train",
            "--seed",
            std::to_string(s.seed),
            "--out",
            stage_dir(s, stage)};
  const std::vector<std::string> sets = list_or_empty(st, "sets");
  XOMNI_CHECK(!sets.empty(), s.path, ": [", stage,
              "] lists no prompt sets (sets = [\"geneval\", ...]: files of the prompts stage)");
  for (const auto& set : sets)
    a.insert(a.end(), {"--prompts", stage_dir(s, "prompts") + "/" + set + ".jsonl"});
  return {append(a, st.args)};
}

}  // namespace

const std::vector<StageInfo>& recipe() {
  static const std::vector<StageInfo> stages = {
      {"prompts", "data", false, "the evaluation prompt sets and a training pool"},
      {"synth", "data", false, "training and validation scenes"},
      {"siglip", "train", false, "the image tokenizer's ViT (SigLIP loss)"},
      {"vq", "train", false, "the vector quantizer, aligned through a small LM"},
      {"decoder", "train", false, "the flow-matching image decoder"},
      {"codec-eval", "eval", false, "the codec on the validation scenes"},
      {"tokenizer", "data", false, "the text tokenizer"},
      {"mmdata", "data", false, "the multimodal token shards"},
      {"lm0", "train", false, "the text LM"},
      {"s1", "train", false, "X-Omni stage 1: the vision parts"},
      {"s2", "train", false, "X-Omni stage 2: everything"},
      {"s3", "train", false, "X-Omni stage 3: annealed"},
      {"sft", "train", false, "supervised fine-tuning"},
      {"realism", "train", false, "the realism reward's scorer"},
      {"bon", "eval", false, "the SFT model's best-of-N levels"},
      {"rl", "train", false, "GRPO on the decoded images"},
      {"eval-s2", "eval", false, "evaluation after s2"},
      {"eval-sft", "eval", false, "evaluation after sft"},
      {"eval-rl", "eval", false, "evaluation after rl"},
      {"report", "report", true, "the study's report"},
  };
  return stages;
}

StageKeys recipe_stage_keys() {
  StageKeys keys;
  for (const StageInfo& st : recipe()) keys[st.name] = {};
  keys["synth"] = {"valid_set", "text_set", "text_valid_set"};
  keys["tokenizer"] = {"inputs", "vocab_size"};
  keys["mmdata"] = {"questions_per_document"};
  keys["realism"] = {"data_args"};
  for (const char* e : {"eval-s2", "eval-sft", "eval-rl"}) keys[e] = {"sets"};
  return keys;
}

std::vector<StageInfo> planned_stages(const StudyFile& study) {
  std::vector<StageInfo> out;
  for (const StageInfo& st : recipe())
    if (study.stages.count(st.name)) out.push_back(st);
  return out;
}

std::string stage_dir(const StudyFile& study, const std::string& stage) {
  return study.seed_root() + "/" + stage;
}

std::string final_checkpoint(const StudyFile& study, const std::string& stage) {
  const fs::path dir = fs::path(stage_dir(study, stage)) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "";
  static const std::regex name(R"(ckpt-(\d+)\.h5)");
  std::string best;
  long long best_step = -1;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string f = e.path().filename().string();
    if (!std::regex_match(f, m, name)) continue;
    const long long step = std::stoll(m[1]);
    if (step > best_step) best_step = step, best = e.path().string();
  }
  return best;
}

std::vector<std::vector<std::string>> stage_commands(const StudyFile& s, const std::string& stage,
                                                     bool dry_run) {
  const StageSettings& st = s.stage(stage);
  if (stage == "prompts")
    return {append({"data", "prompts", "--out", stage_dir(s, "prompts")}, st.args)};
  if (stage == "synth") return synth_commands(s);
  if (stage == "siglip" || stage == "vq" || stage == "decoder")
    return codec_stage_commands(s, stage, dry_run);
  if (stage == "codec-eval") return codec_eval_commands(s, dry_run);
  if (stage == "tokenizer")
    return {
        append(append(append({"data", "mm-tokenizer"}, image_datasets(s, "train")), text_inputs(s)),
               {"--vocab-size", value_or(st, "vocab_size", "1024"), "--out",
                stage_dir(s, "tokenizer") + "/tokenizer.json", "--overwrite"})};
  if (stage == "mmdata") return mmdata_commands(s, dry_run);
  if (std::find(kModelChain.begin(), kModelChain.end(), stage) != kModelChain.end())
    return model_stage_commands(s, stage, dry_run);
  if (stage == "realism") return realism_commands(s, dry_run);
  if (stage == "bon")
    return {append(
        with_sets({"bon", job_of(s, "bon"), "--set",
                   "model.init_checkpoint=" + needed_checkpoint(s, stage, "sft", dry_run), "--set",
                   "run.seed=" + std::to_string(s.seed), "--out", stage_dir(s, "bon")},
                  st.set),
        st.args)};
  if (stage == "rl")
    return {train_command(
        s, "rl", {"model.init_checkpoint=" + needed_checkpoint(s, stage, "sft", dry_run)})};
  if (stage.rfind("eval-", 0) == 0) return eval_commands(s, stage, dry_run);
  if (stage == "report")
    return {append({"report", "study", s.root, "--out", s.root + "/report"}, st.args)};
  throw Error("no stage '" + stage + "' in the recipe");
}

}  // namespace xomni::study
