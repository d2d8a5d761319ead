#pragma once
// The image-codec stages' job files, parsed once. Three stages train the codec (docs/CODEC.md):
//   siglip   the tokenizer's vision tower with a text tower on image-caption pairs (SigLIP loss)
//   vq       the quantizer and adapter through a small causal LM on captions and VQA answers,
//            image codes as the prefix (X-Omni's alignment with a language model, at small scale)
//   decoder  a diffusion decoder on (image, codes) pairs, the tokenizer frozen
// Every stage has the shared trainer sections and [data] (an image dataset). Component sections
// ([tokenizer], [adapter], [lm], [decoder]) take their fields from the plugin they name.
#include <cstdint>
#include <string>
#include <vector>

#include "train/options.h"
#include "xomni/core/config/config.h"
#include "xomni/parallel/topology.h"

namespace xomni::codec {

// A component: its plugin and the plugin's settings as JSON.
struct ComponentOptions {
  std::string plugin;
  std::string settings_json;
  std::string where;  // "<job file> [tokenizer]", for the plugin's messages
};

struct ImageDataOptions {
  std::string train;       // an image dataset folder (xomni data synth / import)
  std::string valid;       // "" for none
  std::string train_text;  // a second dataset of another image size (text images), or ""
  std::string valid_text;
  double text_fraction = 0.25;  // share of batches from train_text
  int64_t image_size = 64;      // short edge after resizing (aspect kept)
  int64_t max_image_size = 0;   // cap on the long edge (0: none)
  int64_t eval_batches = 4;
  int64_t prefetch = 2;
};

// The vq stage's own knobs: the text the LM reads after the image codes, dead-code restarts,
// whether the encoder trains too, and the weight of the patch-pixel term.
struct VqOptions {
  int64_t max_text_tokens = 128;  // text tokens per sample (bytes), truncated beyond
  double vqa_fraction = 0.5;      // share of samples trained on a question/answer, else a caption
  int64_t restart_every = 25;     // steps between dead-code restarts (0: never)
  bool train_encoder =
      false;  // train the ViT too (X-Omni freezes it; the projection always trains)
  // Weight of an auxiliary loss that asks each code for its own patch's pixels through a linear
  // head (0: none, as X-Omni): semantic codes carry no edges for a decoder to draw.
  double pixel_weight = 0;
};

struct SiglipOptions {
  // Pair each image with its longest (dense) caption rather than one drawn from all of them:
  // a short caption ("a photo of a square") also fits other images of the batch.
  bool longest_caption = false;
};

enum class CodecStage { siglip, vq, decoder };
const char* stage_name(CodecStage stage);

struct CodecJob {
  CodecStage stage = CodecStage::siglip;
  train::TrainerOptions trainer;
  ComponentOptions tokenizer;        // siglip, vq; decoder: read from tokenizer_checkpoint
  std::string tokenizer_checkpoint;  // vq: start from it; decoder: the frozen tokenizer
  ComponentOptions adapter, lm;      // vq
  parallel::ModelDims lm_dims;       // vq
  ComponentOptions decoder;          // decoder
  ImageDataOptions data;
  SiglipOptions siglip;  // siglip
  VqOptions vq;          // vq
};

// The stage a job file names (run.stage), overrides included; "lm" when absent.
std::string peek_stage(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides);
bool is_codec_stage(const std::string& stage);

// Reads a codec job file (its run.stage and component plugins decide the schema). Relative
// paths in the file are relative to its folder; overrides' to the working directory.
Config load_codec_config(const std::string& path, const std::vector<std::string>& overrides = {});
Config parse_codec_config(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides = {},
                          const std::string& base_dir = "");
CodecJob parse_codec_job(const Config& config);

}  // namespace xomni::codec
