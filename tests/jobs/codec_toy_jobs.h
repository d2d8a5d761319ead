#pragma once
// Toy-sized codec jobs and datasets shared by the codec stage tests (one process and MPI): 32x32
// scenes and wide text images resized to a short edge of 16 (2x2 and 2x8 token grids), a
// one-block tokenizer with a 16-code book, a one-layer LM, an 8-channel decoder.
#include <filesystem>
#include <string>

#include "xomni/core/data/image_data.h"
#include "xomni/world/scene.h"
#include "xomni/world/text_image.h"

namespace xomni::test {
namespace fs = std::filesystem;

inline std::string g_texts;  // the text-image dataset every job of the suite mixes in
const std::string& texts_dir() {
  return g_texts;
}

inline std::string make_scenes(const fs::path& root, const std::string& name, uint64_t seed,
                               int n) {
  const std::string dir = (root / name).string();
  ImageShardWriter w(dir, 16);
  world::SceneOptions o;
  o.size = 32;
  for (int i = 0; i < n; ++i) w.add(world::generate_scene(seed, i, o));
  w.finish();
  return dir;
}

inline const char* kTokenizer =
    "[tokenizer]\nplugin = \"siglip_vq\"\npatch_size = 8\nvision_width = 32\nvision_layers = 1\n"
    "vision_heads = 2\nembed_dim = 16\ncode_dim = 8\ncodebook_size = 16\ntext_width = 32\n"
    "text_layers = 1\ntext_heads = 2\ntext_max_len = 48\n";

// Wide text images (64x16 after resizing to a short edge of 16: a 2x8 token grid).
inline std::string make_texts(const fs::path& root, uint64_t seed, int n) {
  const std::string dir = (root / "texts").string();
  ImageShardWriter w(dir, 16);
  for (int i = 0; i < n; ++i) w.add(world::generate_text_image(seed, i));
  w.finish();
  return dir;
}

inline std::string common(const fs::path& root, const std::string& stage, const std::string& name,
                          int steps, const std::string& data) {
  return "[run]\nstage = \"" + stage + "\"\nname = \"" + name + "\"\ndir = \"" + root.string() +
         "\"\nseed = 3\n[data]\ntrain = \"" + data + "\"\nvalid = \"" + data +
         "\"\ntrain_text = \"" + texts_dir() + "\"\nvalid_text = \"" + texts_dir() +
         "\"\ntext_fraction = 0.5\nimage_size = 16\neval_batches = 1\nprefetch = 1\n[train]\nsteps "
         "= " +
         std::to_string(steps) +
         "\nbatch_size = 4\ngrad_accum = 2\nlog_every = 100\neval_every = 3\n"
         "checkpoint_every = 3\n[optimizer]\nlearning_rate = 3e-3\n";
}

inline std::string siglip_job(const fs::path& root, const std::string& name, int steps,
                              const std::string& data) {
  return common(root, "siglip", name, steps, data) + kTokenizer;
}

inline std::string vq_job(const fs::path& root, const std::string& name, int steps,
                          const std::string& data, const std::string& init) {
  return common(root, "vq", name, steps, data) + kTokenizer + "checkpoint = \"" + init +
         "\"\n[adapter]\nin_dim = 8\nout_dim = 32\nhidden = 32\n[lm]\nvocab_size = 258\n"
         "hidden_size = 32\nintermediate_size = 64\nnum_hidden_layers = 1\n"
         "num_attention_heads = 2\nnum_key_value_heads = 2\nmax_position_embeddings = 256\n"
         "[vq]\nmax_text_tokens = 64\nvqa_fraction = 0.5\nrestart_every = 2\ntrain_encoder = " +
         std::string(init.empty() ? "true" : "false") + "\n";
}

inline std::string decoder_job(const fs::path& root, const std::string& name, int steps,
                               const std::string& data, const std::string& tokenizer) {
  return common(root, "decoder", name, steps, data) + "[tokenizer]\ncheckpoint = \"" + tokenizer +
         "\"\n[decoder]\ncode_dim = 8\npixels_per_token = 8\nchannels = 8\nchannel_mult = "
         "\"1,1,2\"\ngroups = 4\ntime_embed_dim = 16\nsteps = 2\n";
}

}  // namespace xomni::test
