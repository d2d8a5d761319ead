#include "codec/codec_components.h"

#include <nlohmann/json.hpp>
#include <tuple>

#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::codec {

plugins::ComponentContext component_context(const ComponentOptions& options, uint64_t seed,
                                            const train::ParallelSetup* par) {
  plugins::ComponentContext ctx;
  ctx.config_json = options.settings_json;
  ctx.where = options.where;
  ctx.seed = seed;
  if (par) {
    ctx.tp = par->tp;
    ctx.cp = &par->groups->cp();
  }
  return ctx;
}

std::unique_ptr<plugins::ImageTokenizer> make_tokenizer(const ComponentOptions& options,
                                                        uint64_t seed,
                                                        const train::ParallelSetup* par) {
  return plugins::create_image_tokenizer(options.plugin, component_context(options, seed, par));
}

void read_component(const CheckpointReader& reader, const std::string& part, nn::Module& module) {
  NoGradGuard no_grad;
  for (const nn::ParamInfo& p : module.parameter_infos()) {
    const std::string name = "model/" + part + "." + p.name;
    XOMNI_CHECK(reader.has_tensor(name), reader.path(), ": holds no ", name, " (a ", part,
                " of another design, or a checkpoint of another stage?)");
    if (!p.sharding.sharded()) {
      reader.read_into(name, p.tensor);
      continue;
    }
    const Shape offset = p.sharding.offset(p.tensor.shape());
    Tensor(p.tensor).copy_(reader.read_slice(name, offset, p.tensor.shape()));
  }
}

CodecJob checkpoint_job(const CheckpointReader& reader) {
  XOMNI_CHECK(reader.has_config(), reader.path(), ": the checkpoint holds no job config");
  const std::string source = reader.path() + " (saved job config)";
  const std::string text = reader.config();
  const std::string stage = peek_stage(text, source, {});
  XOMNI_CHECK(is_codec_stage(stage), reader.path(), ": a checkpoint of the ", stage,
              " stage, not of the image codec (siglip, vq or decoder)");
  return parse_codec_job(parse_codec_config(text, source));
}

void check_same_tokenizer(const ComponentOptions& here, const ComponentOptions& trained,
                          const std::string& checkpoint) {
  XOMNI_CHECK(here.plugin == trained.plugin, here.where, ": plugin \"", here.plugin, "\", but ",
              checkpoint, " holds a \"", trained.plugin, "\" tokenizer");
  const nlohmann::json a = nlohmann::json::parse(here.settings_json);
  const nlohmann::json b = nlohmann::json::parse(trained.settings_json);
  std::string differ;
  for (const auto& [key, value] : b.items()) {
    const bool loss_weight = key.size() > 7 && key.compare(key.size() - 7, 7, "_weight") == 0;
    if (loss_weight || (a.contains(key) && a[key] == value)) continue;
    differ += "\n  " + key + " = " + (a.contains(key) ? a[key].dump() : "(unset)") + " here, " +
              value.dump() + " in the checkpoint";
  }
  XOMNI_CHECK(differ.empty(), here.where, ": the tokenizer differs from the one ", checkpoint,
              " was trained with; set the same values:", differ);
}

LoadedTokenizer load_tokenizer(const std::string& checkpoint, const train::ParallelSetup* par) {
  CheckpointReader reader(checkpoint);
  const CodecJob job = checkpoint_job(reader);
  if (job.stage == CodecStage::decoder) return load_tokenizer(job.tokenizer_checkpoint, par);
  LoadedTokenizer out;
  out.options = job.tokenizer;
  out.checkpoint = checkpoint;
  out.tokenizer = make_tokenizer(job.tokenizer, job.trainer.run.seed, par);
  read_component(reader, "tokenizer", *out.tokenizer);
  return out;
}

LoadedDecoder load_decoder(const std::string& checkpoint, const train::ParallelSetup* par) {
  CheckpointReader reader(checkpoint);
  const CodecJob job = checkpoint_job(reader);
  XOMNI_CHECK(job.stage == CodecStage::decoder, checkpoint, ": a checkpoint of the ",
              stage_name(job.stage), " stage; a decoder comes from the decoder stage's");
  LoadedDecoder out;
  out.options = job.decoder;
  out.tokenizer_checkpoint = job.tokenizer_checkpoint;
  out.decoder = plugins::create_diffusion_decoder(
      job.decoder.plugin, component_context(job.decoder, job.trainer.run.seed, par));
  read_component(reader, "decoder", *out.decoder);
  return out;
}

}  // namespace xomni::codec
