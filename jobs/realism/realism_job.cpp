#include "realism/realism_job.h"

#include <algorithm>

namespace xomni::realism {
namespace {

Schema realism_schema() {
  std::vector<FieldSpec> own = realism_model_fields();
  own.push_back(
      string_field("data.train", "", "training image dataset (xomni data realism's train/)")
          .path());
  own.push_back(string_field("data.valid", "", "held-out image dataset (\"\": none)").path());
  own.push_back(int_field("data.eval_batches", 4, "held-out batches per evaluation").at_least(1));
  own.push_back(
      int_field("data.prefetch", 2, "batches read ahead by a background thread").at_least(0));
  own.push_back(
      bool_field("data.hflip", true, "mirror a seeded half of the training images left-right"));
  std::vector<FieldSpec> common = train::stage_common_fields();
  const auto first_loop_field = std::find_if(
      common.begin(), common.end(), [](const FieldSpec& f) { return f.key.rfind("run.", 0) != 0; });
  common.insert(first_loop_field, own.begin(), own.end());
  return Schema(std::move(common));
}

}  // namespace

float label_of_kind(const std::string& kind, const std::string& where) {
  if (kind == kCleanKind || kind == kRealKind) return 1.0f;
  if (kind == kCorruptedKind) return 0.0f;
  throw Error(where + ": sample kind \"" + kind + "\" has no realism label (expected \"" +
              kCleanKind + "\" or \"" + kRealKind + "\" for 1, \"" + kCorruptedKind +
              "\" for 0, as xomni data realism writes)");
}

bool is_realism_stage(const std::string& stage) {
  return stage == "realism";
}

Config parse_realism_config(const std::string& text, const std::string& source,
                            const std::vector<std::string>& overrides,
                            const std::string& base_dir) {
  return Config::parse(text, source, realism_schema(), overrides, base_dir);
}

Config load_realism_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_realism_config(Config::read_text(path), path, overrides, Config::folder_of(path));
}

RealismJob parse_realism_job(const Config& c) {
  RealismJob job;
  const std::string stage = c.get_string("run.stage");
  XOMNI_CHECK(is_realism_stage(stage), c.source(), ": run.stage = \"", stage,
              "\" is not the realism stage");
  job.trainer = train::parse_trainer_options(c);
  job.model = parse_realism_model(c);
  job.data.train = c.get_string("data.train");
  job.data.valid = c.get_string("data.valid");
  job.data.eval_batches = c.get_int("data.eval_batches");
  job.data.prefetch = c.get_int("data.prefetch");
  job.data.hflip = c.get_bool("data.hflip");
  XOMNI_CHECK(!job.data.train.empty(), c.source(),
              ": data.train is not set (a labelled image dataset, e.g. the train/ folder of "
              "`xomni data realism`)");
  return job;
}

}  // namespace xomni::realism
