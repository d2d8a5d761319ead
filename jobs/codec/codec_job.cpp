// The codec stages' job files: schema composition and parsing.
#include "codec/codec_job.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "codec/byte_text.h"
#include "common/plugin_options.h"

namespace xomni::codec {
namespace {

struct Section {
  const char* name;        // "tokenizer"
  const char* kind;        // the component kind its plugin implements
  const char* plugin_key;  // "tokenizer.plugin"
  const char* fallback;    // the default plugin
};
constexpr Section kTokenizer{"tokenizer", "image_tokenizer", "tokenizer.plugin", "siglip_vq"};
constexpr Section kAdapter{"adapter", "adapter", "adapter.plugin", "residual"};
constexpr Section kLm{"lm", "backbone", "lm.backbone", "qwen2"};
constexpr Section kDecoder{"decoder", "diffusion_decoder", "decoder.plugin", "flow"};

CodecStage parse_stage(const std::string& name, const std::string& source) {
  if (name == "siglip") return CodecStage::siglip;
  if (name == "vq") return CodecStage::vq;
  if (name == "decoder") return CodecStage::decoder;
  throw Error(source + ": run.stage = \"" + name +
              "\" is not a codec stage (siglip, vq or decoder; lm is the language-model stage)");
}

std::vector<Section> sections_of(CodecStage stage) {
  switch (stage) {
    case CodecStage::siglip:
      return {kTokenizer};
    case CodecStage::vq:
      return {kTokenizer, kAdapter, kLm};
    case CodecStage::decoder:
      return {kDecoder};
  }
  return {};
}

std::vector<FieldSpec> data_fields() {
  return {
      string_field("data.train", "", "training image dataset folder").path(),
      string_field("data.valid", "", "validation image dataset folder (\"\": none)").path(),
      string_field("data.train_text", "",
                   "a second training dataset of another image size (e.g. wide text images); "
                   "each batch comes from one dataset")
          .path(),
      string_field("data.valid_text", "", "its validation dataset").path(),
      float_field("data.text_fraction", 0.25, "share of the batches drawn from data.train_text")
          .at_least(0)
          .at_most(1),
      int_field("data.image_size", 64, "short edge of the images after resizing (aspect kept)")
          .at_least(1),
      int_field("data.max_image_size", 0, "cap on the long edge after resizing (0: none)")
          .at_least(0),
      int_field("data.eval_batches", 4, "validation batches per evaluation").at_least(1),
      int_field("data.prefetch", 2, "batches read ahead by a background thread").at_least(0),
  };
}

Schema codec_schema(CodecStage stage, const std::vector<std::string>& plugins) {
  std::vector<FieldSpec> own;
  const std::vector<Section> sections = sections_of(stage);
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& s = sections[i];
    own.push_back(string_field(s.plugin_key, s.fallback,
                               std::string(s.kind) + " plugin: a name or a library path")
                      .plugin());
    for (FieldSpec& f : jobs::plugin_section_fields(s.kind, plugins[i], s.name))
      own.push_back(std::move(f));
  }
  if (stage != CodecStage::siglip) {
    own.push_back(
        string_field("tokenizer.checkpoint", "",
                     stage == CodecStage::vq
                         ? "start the tokenizer from this checkpoint (the siglip stage's) when the "
                           "run has none of its own"
                         : "the trained tokenizer (the vq stage's checkpoint), frozen here")
            .path());
  }
  if (stage == CodecStage::siglip)
    own.push_back(string_field("siglip.caption", "any",
                               "which caption pairs with each image: \"any\" (drawn uniformly "
                               "from its captions) or \"longest\" (the dense one)"));
  if (stage == CodecStage::vq) {
    own.push_back(int_field("vq.max_text_tokens", 128,
                            "text tokens (bytes) per sample after the "
                            "image codes; longer texts are cut")
                      .at_least(2));
    own.push_back(float_field("vq.vqa_fraction", 0.5,
                              "share of samples trained on a question and its answer (the rest "
                              "on a caption)")
                      .at_least(0)
                      .at_most(1));
    own.push_back(bool_field("vq.train_encoder", false,
                             "train the vision tower too (frozen by default, as in X-Omni)"));
    own.push_back(float_field("vq.pixel_weight", 0.0,
                              "weight of the patch-pixel loss: a linear head reads each code and "
                              "predicts its patch's pixels (0: none, as in X-Omni)")
                      .at_least(0));
    own.push_back(int_field("vq.restart_every", 25,
                            "steps between restarts of the codes no rank chose since the last "
                            "one (0: never)")
                      .at_least(0));
  }
  for (FieldSpec& f : data_fields()) own.push_back(std::move(f));
  std::vector<FieldSpec> common = train::stage_common_fields();
  const auto first_loop_field = std::find_if(
      common.begin(), common.end(), [](const FieldSpec& f) { return f.key.rfind("run.", 0) != 0; });
  common.insert(first_loop_field, own.begin(), own.end());
  return Schema(std::move(common));
}

ComponentOptions component(const Config& c, const Section& s) {
  ComponentOptions o;
  o.plugin = c.get_string(s.plugin_key);
  o.settings_json = jobs::plugin_settings_json(c, s.kind, o.plugin, s.name);
  o.where = c.source() + " [" + s.name + "]";
  return o;
}

}  // namespace

const char* stage_name(CodecStage stage) {
  switch (stage) {
    case CodecStage::siglip:
      return "siglip";
    case CodecStage::vq:
      return "vq";
    case CodecStage::decoder:
      return "decoder";
  }
  return "?";
}

std::string peek_stage(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides) {
  return Config::peek_string(text, source, "run.stage", overrides, "lm");
}

bool is_codec_stage(const std::string& stage) {
  return stage == "siglip" || stage == "vq" || stage == "decoder";
}

Config parse_codec_config(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides, const std::string& base_dir) {
  const CodecStage stage = parse_stage(peek_stage(text, source, overrides), source);
  std::vector<std::string> plugins;
  for (const Section& s : sections_of(stage))
    plugins.push_back(
        jobs::peek_plugin(text, source, s.plugin_key, overrides, s.fallback, base_dir));
  return Config::parse(text, source, codec_schema(stage, plugins), overrides, base_dir);
}

Config load_codec_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_codec_config(Config::read_text(path), path, overrides, Config::folder_of(path));
}

CodecJob parse_codec_job(const Config& c) {
  CodecJob job;
  job.stage = parse_stage(c.get_string("run.stage"), c.source());
  job.trainer = train::parse_trainer_options(c);
  if (job.stage != CodecStage::decoder) job.tokenizer = component(c, kTokenizer);
  if (job.stage != CodecStage::siglip)
    job.tokenizer_checkpoint = c.get_string("tokenizer.checkpoint");
  if (job.stage == CodecStage::siglip) {
    const std::string caption = c.get_string("siglip.caption");
    XOMNI_CHECK(caption == "any" || caption == "longest", c.source(),
                ": siglip.caption must be \"any\" or \"longest\", got \"", caption, "\"");
    job.siglip.longest_caption = caption == "longest";
  }
  if (job.stage == CodecStage::vq) {
    job.adapter = component(c, kAdapter);
    job.lm = component(c, kLm);
    job.lm_dims = jobs::backbone_dims(job.lm.settings_json, job.lm.where);
    job.vq.max_text_tokens = c.get_int("vq.max_text_tokens");
    job.vq.vqa_fraction = c.get_float("vq.vqa_fraction");
    job.vq.restart_every = c.get_int("vq.restart_every");
    job.vq.train_encoder = c.get_bool("vq.train_encoder");
    job.vq.pixel_weight = c.get_float("vq.pixel_weight");
    XOMNI_CHECK(job.lm_dims.vocab_size >= kByteVocab, c.source(),
                ": lm.vocab_size = ", job.lm_dims.vocab_size, " is smaller than the ", kByteVocab,
                " ids of the byte-level text (256 bytes, begin and end)");
  }
  if (job.stage == CodecStage::vq)
    XOMNI_CHECK(!job.tokenizer_checkpoint.empty() || job.vq.train_encoder, c.source(),
                ": tokenizer.checkpoint is not set and vq.train_encoder is false, so the vision "
                "tower would stay at its random initialisation; start from the siglip stage's "
                "checkpoint, or set vq.train_encoder = true");
  if (job.stage == CodecStage::decoder) {
    job.decoder = component(c, kDecoder);
    XOMNI_CHECK(!job.tokenizer_checkpoint.empty(), c.source(),
                ": tokenizer.checkpoint is not set; the decoder stage decodes the codes of a "
                "trained tokenizer (the vq stage's final checkpoint)");
  }
  job.data.train = c.get_string("data.train");
  job.data.valid = c.get_string("data.valid");
  job.data.train_text = c.get_string("data.train_text");
  job.data.valid_text = c.get_string("data.valid_text");
  job.data.text_fraction = c.get_float("data.text_fraction");
  job.data.image_size = c.get_int("data.image_size");
  job.data.max_image_size = c.get_int("data.max_image_size");
  job.data.eval_batches = c.get_int("data.eval_batches");
  job.data.prefetch = c.get_int("data.prefetch");
  XOMNI_CHECK(!job.data.train.empty(), c.source(),
              ": data.train is not set (an image dataset "
              "folder, e.g. from `xomni data synth`)");
  return job;
}

}  // namespace xomni::codec
