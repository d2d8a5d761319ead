// xomni imagine: text to image with an X-Omni training checkpoint. The prompt becomes
// "{prompt}<SOM>{h} {w}<IMAGE>", the model samples the h*w codes (batched over --n, KV cache,
// optional guidance), the image tokenizer turns them into code embeddings and the diffusion
// decoder renders them. Writes one PNG (a grid of the samples when --n > 1) and the codes as JSON.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/image_grid.h"
#include "mm_generation.h"
#include "mm_model.h"
#include "mm_prompt.h"
#include "sampling_options.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

namespace fs = std::filesystem;

void require_file(const std::string& path, const std::string& what) {
  XOMNI_CHECK(fs::is_regular_file(path), what, " ", path, " does not exist");
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string checkpoint = take_option(args, "--checkpoint");
  const std::string prompt = take_option(args, "--prompt");
  const std::string grid_text = take_option(args, "--grid");
  const std::string decoder_flag = take_option(args, "--decoder");
  const std::string multimodal = take_option(args, "--multimodal");
  const std::string out = take_option(args, "--out");
  const int64_t n = parse_int(take_option(args, "--n"), "--n", 1, 1, 1024);
  const int64_t steps = parse_int(take_option(args, "--steps"), "--steps", 0, 0, 100000);
  SamplingFlags defaults;
  defaults.sampling = ImageSampling{}.sampling;
  const SamplingFlags flags = take_sampling_flags(args, defaults, /*with_cfg=*/true);
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0],
              "' (see xomni imagine --help)");
  XOMNI_CHECK(!checkpoint.empty(),
              "--checkpoint CKPT.h5 is required (an X-Omni training "
              "checkpoint)");
  XOMNI_CHECK(!prompt.empty(), "--prompt TEXT is required");
  XOMNI_CHECK(!out.empty(), "--out IMAGE.png is required");
  require_file(checkpoint, "--checkpoint");
  std::pair<int64_t, int64_t> grid{0, 0};
  if (!grid_text.empty()) grid = parse_grid(grid_text, "--grid");

  const MmModel model = load_model_checkpoint(checkpoint, "");
  const MultimodalInfo info = find_multimodal_info(model, checkpoint, multimodal);
  check_model_matches(model, info, checkpoint);
  if (grid_text.empty()) grid = info.grids.front();
  const auto [h, w] = grid;
  XOMNI_CHECK(std::find(info.grids.begin(), info.grids.end(), grid) != info.grids.end(),
              "--grid: the model was not trained for ", h, "x", w,
              "; trained grids: ", grid_list(info.grids), " (", info.path, ")");
  XOMNI_CHECK(flags.sampling.top_k <= info.image_vocab_size, "--top-k: ", flags.sampling.top_k,
              " exceeds the image vocabulary size ", info.image_vocab_size);
  const std::string decoder_path = decoder_flag.empty() ? info.decoder : decoder_flag;
  XOMNI_CHECK(!decoder_path.empty(),
              "no decoder: pass --decoder CKPT (a decoder-stage "
              "checkpoint), or record one as \"decoder\" in ",
              info.path);
  require_file(decoder_path, decoder_flag.empty() ? info.path + ": its decoder" : "--decoder");
  require_file(info.image_tokenizer, info.path + ": its image_tokenizer");
  require_file(info.text_tokenizer, info.path + ": its text_tokenizer");

  const auto tok = load_tokenizer(info.text_tokenizer);
  const std::vector<int64_t> ids = generation_prompt(*tok, info, prompt, h, w);
  const int64_t count = h * w;
  if (model.max_positions > 0)
    XOMNI_CHECK(int64_t(ids.size()) + count <= model.max_positions, "the prompt (", ids.size(),
                " tokens with the image prefix) and the ", h, "x", w, " image (", count,
                " codes, then <EOM>) need ", int64_t(ids.size()) + count,
                " positions, beyond the model's context (max_position_embeddings=",
                model.max_positions, "); shorten the prompt or choose a smaller grid");
  const codec::LoadedTokenizer image_tok = codec::load_tokenizer(info.image_tokenizer, nullptr);
  XOMNI_CHECK(image_tok.tokenizer->codebook_size() == info.image_vocab_size, info.image_tokenizer,
              ": its codebook has ", image_tok.tokenizer->codebook_size(),
              " codes but the model's image vocabulary is ", info.image_vocab_size);
  const codec::LoadedDecoder dec = codec::load_decoder(decoder_path, nullptr);
  XOMNI_CHECK(dec.decoder->code_dim() == image_tok.tokenizer->code_dim(), decoder_path,
              ": the decoder takes codes of dimension ", dec.decoder->code_dim(), " but ",
              info.image_tokenizer, " gives ", image_tok.tokenizer->code_dim());

  NoGradGuard no_grad;
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n; ++i) rows.insert(rows.end(), ids.begin(), ids.end());
  ImageSampling o;
  o.sampling = flags.sampling;
  o.cfg = flags.cfg;
  o.seed = flags.seed;
  const Tensor codes = generate_image_codes(*model.lm, model.vocab,
                                            Tensor::from_vector(rows, {n, int64_t(ids.size())}),
                                            image_prefix_ids(*tok, info, h, w), count, o);
  const Tensor embeddings = image_tok.tokenizer->code_embeddings(codes);
  const Tensor pixels = dec.decoder->decode(embeddings, h, w, flags.seed, steps);
  const std::vector<Image> images = codec::tensor_to_images(pixels);
  const fs::path out_path(out);
  if (out_path.has_parent_path()) fs::create_directories(out_path.parent_path());
  write_png(codec::tile_grid(images), out);

  nlohmann::json j;
  j["prompt"] = prompt;
  j["grid"] = {h, w};
  j["text_vocab_size"] = info.text_vocab_size;  // image code k is token id text_vocab_size + k
  j["seed"] = flags.seed;
  j["temperature"] = flags.sampling.temperature;
  j["top_k"] = flags.sampling.top_k;
  j["top_p"] = flags.sampling.top_p;
  j["min_p"] = flags.sampling.min_p;
  j["cfg"] = flags.cfg;
  j["checkpoint"] = checkpoint;
  j["decoder"] = decoder_path;
  const std::vector<int64_t> k = codes.to_vector<int64_t>();
  j["codes"] = nlohmann::json::array();
  for (int64_t i = 0; i < n; ++i)
    j["codes"].push_back(std::vector<int64_t>(k.begin() + i * count, k.begin() + (i + 1) * count));
  const std::string json_path = fs::path(out).replace_extension(".json").string();
  std::ofstream(json_path) << j.dump() << "\n";
  std::printf("%lld image%s of %lldx%lld codes -> %s (codes in %s)\n", static_cast<long long>(n),
              n > 1 ? "s" : "", static_cast<long long>(h), static_cast<long long>(w), out.c_str(),
              json_path.c_str());
  return 0;
}

const Register reg(
    {"imagine", "text to image with an X-Omni checkpoint (sample codes, decode, write a PNG)",
     "usage: xomni imagine --checkpoint CKPT.h5 --prompt TEXT --out IMAGE.png\n"
     "                     [--n N] [--grid HxW] [--temperature T] [--min-p M] [--top-p P]\n"
     "                     [--top-k K] [--cfg G] [--seed S] [--steps S] [--decoder CKPT]\n"
     "                     [--multimodal DIR/multimodal.json]\n\n"
     "CKPT is a checkpoint of an xomni training job with backbone \"xomni\"; the folder of\n"
     "its [data] train shards holds multimodal.json (or pass --multimodal), which names\n"
     "the text tokenizer, the image tokenizer (vq checkpoint), the decoder and the token\n"
     "grids the model was trained on. The prompt is encoded as \"{TEXT}<SOM>{h} {w}<IMAGE>\"\n"
     "and exactly h*w codes are sampled (batched over N samples, with the KV cache), then\n"
     "rendered by the diffusion decoder (--decoder, else multimodal.json's; --steps S\n"
     "sampler steps, 0: its default). Grid: --grid HxW, one of the trained grids (default:\n"
     "the first). Sampling defaults are the paper's: temperature 1, min-p 0.03, top-p 1, no\n"
     "top-k, --cfg 1 (off); guidance G uses the image prefix alone as the unconditional\n"
     "prompt. --seed S seeds the sampling (sample i draws with S + i) and the decoder.\n"
     "Writes IMAGE.png (N > 1: the samples in a grid) and IMAGE.json with the sampled codes\n"
     "(token id = text_vocab_size + code).",
     run});

}  // namespace
}  // namespace xomni::cli
