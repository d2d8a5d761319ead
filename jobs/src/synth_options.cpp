#include "synth_options.h"

#include "xomni/core/config/config.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

const Schema& synth_schema() {
  static const Schema s({
      int_field("synth.seed", 0, "seed of every generated sample (same seed -> same bytes)")
          .at_least(0),
      required_field("synth.out", FieldType::string, "dataset folder to write").path(),
      int_field("synth.samples_per_shard", 1000, "samples per HDF5 shard").at_least(1),
      int_field("synth.scenes", 0, "scene samples (GenEval categories in turn)").at_least(0),
      int_field("synth.text_short", 0, "short text images (1-3 words, 256x64)").at_least(0),
      int_field("synth.text_long", 0, "long text images (8-16 words, 512x256)").at_least(0),
      int_field("synth.image_size", 64,
                "scene width = height in pixels (text images keep their bucket's size)")
          .at_least(32)
          .at_most(4096),
      float_field("synth.text_scale", 1.0,
                  "text images at this share of their bucket's size (0.5: short 128x32, long "
                  "256x128; each side rounded to a multiple of 8, the codec's patch)")
          .at_least(0.125)
          .at_most(4),
      bool_field("synth.textured_background", false, "noise/stripes around scenes and signs"),
  });
  return s;
}

}  // namespace

SynthOptions load_synth_options(const std::string& path,
                                const std::vector<std::string>& overrides) {
  const Config c = Config::load(path, synth_schema(), overrides);
  SynthOptions o;
  o.seed = uint64_t(c.get_int("synth.seed"));
  o.out = c.get_string("synth.out");
  o.samples_per_shard = c.get_int("synth.samples_per_shard");
  o.scenes = c.get_int("synth.scenes");
  o.text_short = c.get_int("synth.text_short");
  o.text_long = c.get_int("synth.text_long");
  o.scene.size = c.get_int("synth.image_size");
  o.scene.textured_background = c.get_bool("synth.textured_background");
  o.text_scale = c.get_float("synth.text_scale");
  return o;
}

}  // namespace xomni::cli
