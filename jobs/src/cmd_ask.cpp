// xomni ask: image understanding with an X-Omni training checkpoint. The image is resized to a
// trained token grid, encoded by the image tokenizer, and the model continues
// "<SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\n" in its text mode until <|endoftext|> or <EOM>.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "cli.h"
#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "mm_generation.h"
#include "mm_model.h"
#include "mm_prompt.h"
#include "sampling_options.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCaptionQuestion = "Describe the image.";  // as the captioning documents ask

// The trained grid whose aspect ratio is nearest the image's (the first on ties).
std::pair<int64_t, int64_t> nearest_grid(const std::vector<std::pair<int64_t, int64_t>>& grids,
                                         const Image& img) {
  const double aspect = std::log(double(img.width) / double(img.height));
  std::pair<int64_t, int64_t> best = grids.front();
  double best_d = std::numeric_limits<double>::infinity();
  for (const auto& g : grids) {
    const double d = std::abs(std::log(double(g.second) / double(g.first)) - aspect);
    if (d < best_d) best_d = d, best = g;
  }
  return best;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string checkpoint = take_option(args, "--checkpoint");
  const std::string image_path = take_option(args, "--image");
  std::string question = take_option(args, "--question");
  const bool caption = take_flag(args, "--caption");
  const std::string grid_text = take_option(args, "--grid");
  const std::string multimodal = take_option(args, "--multimodal");
  const int64_t max_tokens =
      parse_int(take_option(args, "--max-tokens"), "--max-tokens", 64, 1, int64_t(1) << 31);
  SamplingFlags defaults;
  defaults.sampling = SamplingOptions{0.0, 0, 1.0, 0.0};  // greedy answers
  const SamplingFlags flags = take_sampling_flags(args, defaults, /*with_cfg=*/false);
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0],
              "' (see xomni ask --help)");
  XOMNI_CHECK(!checkpoint.empty(),
              "--checkpoint CKPT.h5 is required (an X-Omni training "
              "checkpoint)");
  XOMNI_CHECK(!image_path.empty(), "--image IMAGE is required");
  XOMNI_CHECK(question.empty() != !caption, "give exactly one of --question TEXT and --caption");
  if (caption) question = kCaptionQuestion;
  XOMNI_CHECK(fs::is_regular_file(checkpoint), "--checkpoint ", checkpoint, " does not exist");
  XOMNI_CHECK(fs::is_regular_file(image_path), "--image ", image_path, " does not exist");
  const Image original = read_image(image_path);

  const MmModel model = load_model_checkpoint(checkpoint, "");
  const MultimodalInfo info = find_multimodal_info(model, checkpoint, multimodal);
  check_model_matches(model, info, checkpoint);
  XOMNI_CHECK(flags.sampling.top_k <= info.text_vocab_size, "--top-k: ", flags.sampling.top_k,
              " exceeds the text vocabulary size ", info.text_vocab_size);
  std::pair<int64_t, int64_t> grid = nearest_grid(info.grids, original);
  if (!grid_text.empty()) {
    grid = parse_grid(grid_text, "--grid");
    XOMNI_CHECK(std::find(info.grids.begin(), info.grids.end(), grid) != info.grids.end(),
                "--grid: the model was not trained for ", grid.first, "x", grid.second,
                "; trained grids: ", grid_list(info.grids), " (", info.path, ")");
  }
  const auto [h, w] = grid;
  XOMNI_CHECK(fs::is_regular_file(info.image_tokenizer), info.path, ": its image_tokenizer ",
              info.image_tokenizer, " does not exist");
  XOMNI_CHECK(fs::is_regular_file(info.text_tokenizer), info.path, ": its text_tokenizer ",
              info.text_tokenizer, " does not exist");
  const auto tok = load_tokenizer(info.text_tokenizer);
  const codec::LoadedTokenizer image_tok = codec::load_tokenizer(info.image_tokenizer, nullptr);
  XOMNI_CHECK(image_tok.tokenizer->codebook_size() == info.image_vocab_size, info.image_tokenizer,
              ": its codebook has ", image_tok.tokenizer->codebook_size(),
              " codes but the model's image vocabulary is ", info.image_vocab_size);

  NoGradGuard no_grad;
  // Fit the image to the grid: each token covers one patch.
  const int64_t patch = image_tok.tokenizer->patch_size();
  const Image fitted = resize_image(original, w * patch, h * patch);
  const std::vector<int64_t> codes =
      image_tok.tokenizer->encode(codec::image_to_tensor(fitted)).to_vector<int64_t>();
  const std::vector<int64_t> prompt = understanding_prompt(*tok, info, h, w, codes, question);
  if (model.max_positions > 0)
    XOMNI_CHECK(int64_t(prompt.size()) + max_tokens - 1 <= model.max_positions, "the prompt (",
                prompt.size(), " tokens: the ", h, "x", w, " image and the question) and ",
                "--max-tokens ", max_tokens, " need ", int64_t(prompt.size()) + max_tokens - 1,
                " positions, beyond the model's context (max_position_embeddings=",
                model.max_positions, "); lower --max-tokens or shorten the question");
  const std::vector<int64_t> answer = generate_text(
      *model.lm, model.vocab, prompt, max_tokens, {info.eos, info.eom}, flags.sampling, flags.seed);
  std::printf("%s\n", tok->decode(answer, /*skip_special=*/true).c_str());
  return 0;
}

const Register reg(
    {"ask", "ask an X-Omni checkpoint about an image (or caption it)",
     "usage: xomni ask --checkpoint CKPT.h5 --image IMAGE (--question TEXT | --caption)\n"
     "                 [--max-tokens N] [--grid HxW] [--temperature T] [--top-k K]\n"
     "                 [--top-p P] [--min-p M] [--seed S] [--multimodal DIR/multimodal.json]\n\n"
     "CKPT is a checkpoint of an xomni training job with backbone \"xomni\"; the folder of\n"
     "its [data] train shards holds multimodal.json (or pass --multimodal), which names\n"
     "the text tokenizer, the image tokenizer and the token grids the model was trained on.\n"
     "The image (PNG, JPEG, PPM) is resized to a trained grid (--grid HxW, default the one\n"
     "nearest its aspect ratio) times the tokenizer's patch, encoded to codes, and the model\n"
     "continues \"<SOM>{h} {w}<IMAGE>{codes}<EOM>{question}\\n\" in its text mode up to N\n"
     "tokens (64), stopping at <|endoftext|> or <EOM>. --caption asks \"Describe the\n"
     "image.\". Decoding is greedy unless --temperature T > 0. Prints the answer.",
     run});

}  // namespace
}  // namespace xomni::cli
