// The realism scorer's [model] fields: declared, parsed from a job, and read back from a
// checkpoint's saved job (the reward plugin compiles this file in with realism_model.cpp).
#include <optional>

#include "realism/realism_model.h"

namespace xomni::realism {

std::vector<FieldSpec> realism_model_fields() {
  return {
      int_field("model.image_size", 32,
                "side of the square the scorer sees (images are resized to it, aspect not kept)")
          .at_least(2)
          .at_most(4096),
      int_field("model.channels", 16, "channels of the first level (level i has channels * 2^i)")
          .at_least(1)
          .at_most(4096),
      int_field("model.levels", 3, "conv + GroupNorm + SiLU + 2x2 pooling levels")
          .at_least(1)
          .at_most(12),
      int_field("model.groups", 4, "GroupNorm groups (divide model.channels)").at_least(1),
  };
}

void check_realism_model(const RealismModelOptions& o, const std::string& where) {
  XOMNI_CHECK(o.image_size >= 1 && o.channels >= 1 && o.levels >= 1 && o.groups >= 1, where,
              ": model sizes must be positive (image_size ", o.image_size, ", channels ",
              o.channels, ", levels ", o.levels, ", groups ", o.groups, ")");
  XOMNI_CHECK(o.levels < 31 && o.image_size % (int64_t(1) << o.levels) == 0, where,
              ": model.image_size = ", o.image_size, " is not divisible by 2^model.levels = 2^",
              o.levels, " (each level halves the image)");
  XOMNI_CHECK(o.channels % o.groups == 0, where, ": model.groups = ", o.groups,
              " does not divide model.channels = ", o.channels);
}

RealismModelOptions parse_realism_model(const Config& c) {
  RealismModelOptions o;
  o.image_size = c.get_int("model.image_size");
  o.channels = c.get_int("model.channels");
  o.levels = c.get_int("model.levels");
  o.groups = c.get_int("model.groups");
  check_realism_model(o, c.source());
  return o;
}

RealismModelOptions realism_model_from_saved(const std::string& text, const std::string& source) {
  const std::string stage = Config::peek_string(text, source, "run.stage", {}, "lm");
  XOMNI_CHECK(stage == "realism", source, ": a checkpoint of the ", stage,
              " stage, not of the realism scorer (run.stage = \"realism\")");
  const auto get = [&](const char* key) {
    const std::optional<int64_t> v = Config::peek_saved_int(text, key);
    XOMNI_CHECK(v.has_value(), source, ": the saved job has no integer ", key);
    return *v;
  };
  RealismModelOptions o;
  o.image_size = get("model.image_size");
  o.channels = get("model.channels");
  o.levels = get("model.levels");
  o.groups = get("model.groups");
  check_realism_model(o, source);
  return o;
}

}  // namespace xomni::realism
