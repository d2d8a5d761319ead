#pragma once
// The codec's components from their plugins, and from checkpoints: a stage builds its
// tokenizer, adapter, LM and decoder here; `xomni image` and later stages load a trained
// tokenizer (a siglip or vq checkpoint) or decoder (a decoder checkpoint) by path alone, since a
// checkpoint holds the job that made it. In a checkpoint the components' parameters are
// "model/<part>.<name>" with <part> tokenizer, adapter, lm or decoder.
#include <memory>
#include <string>

#include "codec/codec_job.h"
#include "train/parallel_setup.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/plugins/components.h"

namespace xomni::codec {

plugins::ComponentContext component_context(const ComponentOptions& options, uint64_t seed,
                                            const train::ParallelSetup* par);

std::unique_ptr<plugins::ImageTokenizer> make_tokenizer(const ComponentOptions& options,
                                                        uint64_t seed,
                                                        const train::ParallelSetup* par);

// Reads this rank's piece of every parameter of `module` from "model/<part>.<name>".
void read_component(const CheckpointReader& reader, const std::string& part, nn::Module& module);

// The job a checkpoint was trained with (its saved config), parsed.
CodecJob checkpoint_job(const CheckpointReader& reader);

// Refuses to build on a trained tokenizer with other settings: parameters are checked by name and
// shape when read, but settings that are no parameters (a position scale, a norm's epsilon) would
// change the tower silently. The quantiser's loss weights (keys ending in "_weight") may differ.
void check_same_tokenizer(const ComponentOptions& here, const ComponentOptions& trained,
                          const std::string& checkpoint);

// A trained tokenizer: from a siglip or vq checkpoint (or a decoder checkpoint, through the
// tokenizer checkpoint its job names).
struct LoadedTokenizer {
  std::unique_ptr<plugins::ImageTokenizer> tokenizer;
  ComponentOptions options;
  std::string checkpoint;
};
LoadedTokenizer load_tokenizer(const std::string& checkpoint, const train::ParallelSetup* par);

// A trained diffusion decoder from a decoder checkpoint.
struct LoadedDecoder {
  std::unique_ptr<plugins::DiffusionDecoder> decoder;
  ComponentOptions options;
  std::string tokenizer_checkpoint;  // the tokenizer whose codes it decodes
};
LoadedDecoder load_decoder(const std::string& checkpoint, const train::ParallelSetup* par);

}  // namespace xomni::codec
