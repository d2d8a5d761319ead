// xomni generate: decode tokens from a backbone with the KV cache: text (greedy, or sampled with
// temperature, top-k, top-p and min-p), or with --image-grid the h*w image codes of an X-Omni
// model in its image mode, optionally with classifier-free guidance.
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "cli_tokenizer.h"
#include "mm_generation.h"
#include "mm_model.h"
#include "sampling_options.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::istringstream in(text);
  std::string tok;
  while (in >> tok) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(tok, &used));
      XOMNI_CHECK(used == tok.size(), "bad token id '", tok, "'");
    } catch (const std::logic_error&) {
      throw Error("--prompt-ids: '" + tok + "' is not an integer token id");
    }
  }
  XOMNI_CHECK(!ids.empty(), "--prompt-ids: no token ids given");
  return ids;
}

void print_ids(const std::vector<int64_t>& ids) {
  for (size_t i = 0; i < ids.size(); ++i)
    std::printf(i ? " %lld" : "%lld", static_cast<long long>(ids[i]));
  std::printf("\n");
}

// "<SOM>{h} {w}<IMAGE>" in the tokenizer's ids, as the multimodal documents spell it.
std::vector<int64_t> image_prefix(const plugins::TextTokenizer& tok, int64_t h, int64_t w) {
  const std::string text = "<SOM>" + std::to_string(h) + " " + std::to_string(w) + "<IMAGE>";
  std::vector<int64_t> ids = tok.encode(text, /*allow_special=*/true);
  XOMNI_CHECK(ids != tok.encode(text, /*allow_special=*/false),
              "--tokenizer: <SOM> and <IMAGE> are not special tokens of this tokenizer; use the "
              "X-Omni model's own tokenizer");
  return ids;
}

bool ends_with(const std::vector<int64_t>& ids, const std::vector<int64_t>& tail) {
  return ids.size() >= tail.size() &&
         std::equal(tail.begin(), tail.end(), ids.end() - long(tail.size()));
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string model_dir = take_option(args, "--model");
  const std::string checkpoint = take_option(args, "--checkpoint");
  const std::string prompt_ids = take_option(args, "--prompt-ids");
  const std::string prompt_text = take_option(args, "--prompt");
  const std::string tokenizer_path = take_option(args, "--tokenizer");
  const std::string tokenizer_plugin = take_option(args, "--tokenizer-plugin");
  const std::string backbone = take_option(args, "--backbone");
  const std::string grid_text = take_option(args, "--image-grid");
  const bool add_prefix = take_flag(args, "--add-image-prefix");
  const std::string steps_text = take_option(args, "--steps");
  const bool image_mode = !grid_text.empty();
  // Text decodes greedily by default; images sample as the paper does (temperature 1, min-p .03).
  SamplingFlags defaults;
  if (!image_mode)
    defaults.sampling = SamplingOptions{0.0, 0, 1.0, 0.0};
  else
    defaults.sampling = ImageSampling{}.sampling;
  const SamplingFlags flags = take_sampling_flags(args, defaults, /*with_cfg=*/true);
  // A decode step at a time: 2^31 is beyond any model's positions and keeps sums in range.
  const int64_t steps = parse_int(steps_text, "--steps", 32, 0, int64_t(1) << 31);
  const int64_t n = parse_int(take_option(args, "--n"), "--n", 1, 1, 4096);
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(model_dir.empty() != checkpoint.empty(),
              "give exactly one of --model <Hugging Face folder> and --checkpoint <ckpt.h5>");
  XOMNI_CHECK(prompt_ids.empty() != prompt_text.empty(),
              "give exactly one of --prompt-ids \"ID ...\" and --prompt TEXT");
  int64_t grid_h = 0, grid_w = 0;
  if (image_mode) {
    std::tie(grid_h, grid_w) = parse_grid(grid_text, "--image-grid");
    XOMNI_CHECK(steps_text.empty(),
                "--steps does not go with --image-grid (the grid's h*w codes "
                "are generated)");
    XOMNI_CHECK(!add_prefix || !tokenizer_path.empty(),
                "--add-image-prefix needs --tokenizer TOK.json to encode <SOM>h w<IMAGE>");
    XOMNI_CHECK(flags.cfg == 1.0 || !tokenizer_path.empty(),
                "--cfg needs --tokenizer TOK.json: the unconditional prompt is the image prefix "
                "<SOM>h w<IMAGE> in its ids");
  } else {
    XOMNI_CHECK(!add_prefix && flags.cfg == 1.0 && n == 1,
                "--add-image-prefix, --cfg and --n go with --image-grid HxW (image generation)");
  }
  const MmModel model = checkpoint.empty() ? load_model_folder(model_dir, backbone)
                                           : load_model_checkpoint(checkpoint, backbone);
  if (image_mode)
    XOMNI_CHECK(model.is_xomni(),
                "--image-grid needs an X-Omni model (config.json model_type "
                "\"x-omni\", or a checkpoint of an xomni training job); ",
                checkpoint.empty() ? model_dir : checkpoint, " is a text-only ", model.backbone,
                " model");
  const int64_t columns = image_mode ? model.vocab.image : model.vocab.text;
  XOMNI_CHECK(flags.sampling.top_k <= columns, "--top-k: ", flags.sampling.top_k,
              " exceeds the vocabulary size ", columns);
  std::unique_ptr<plugins::TextTokenizer> tok;
  if (!tokenizer_path.empty()) tok = load_tokenizer(tokenizer_path, tokenizer_plugin);
  std::vector<int64_t> prompt;
  if (!prompt_text.empty()) {
    XOMNI_CHECK(tok, "--prompt TEXT needs --tokenizer tokenizer.json");
    prompt = tok->encode(prompt_text, /*allow_special=*/true);
  } else {
    prompt = parse_ids(prompt_ids);
  }
  const int64_t vocab = model.vocab.text + model.vocab.image;
  for (int64_t id : prompt)
    XOMNI_CHECK(
        id >= 0 && id < vocab,
        prompt_text.empty() ? "--prompt-ids: token id " : "--prompt: the tokenizer gave id ", id,
        ", outside the model's vocabulary [0, ", vocab, ")",
        prompt_text.empty() ? "" : " (is --tokenizer the model's own?)");
  std::vector<int64_t> prefix;
  if (image_mode && tok) {
    prefix = image_prefix(*tok, grid_h, grid_w);
    if (add_prefix) prompt.insert(prompt.end(), prefix.begin(), prefix.end());
    XOMNI_CHECK(ends_with(prompt, prefix),
                "--image-grid: the prompt must end with the image prefix <SOM>", grid_h, " ",
                grid_w, "<IMAGE> (or pass --add-image-prefix)");
  }
  XOMNI_CHECK(!prompt.empty(), "the prompt holds no tokens");
  // The positions the model sees: the prompt and every generated token but the last.
  const int64_t count = image_mode ? grid_h * grid_w : steps;
  if (model.max_positions > 0 && count > 0)
    XOMNI_CHECK(int64_t(prompt.size()) + count - 1 <= model.max_positions,
                image_mode ? "--image-grid " + grid_text : "--steps " + std::to_string(steps),
                " after a prompt of ", prompt.size(), " tokens needs ",
                int64_t(prompt.size()) + count - 1,
                " positions, beyond the model's "
                "max_position_embeddings=",
                model.max_positions);
  NoGradGuard no_grad;
  if (image_mode) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n; ++i) rows.insert(rows.end(), prompt.begin(), prompt.end());
    ImageSampling o;
    o.sampling = flags.sampling;
    o.cfg = flags.cfg;
    o.seed = flags.seed;
    const Tensor codes = generate_image_codes(
        *model.lm, model.vocab, Tensor::from_vector(rows, {n, int64_t(prompt.size())}), prefix,
        count, o);
    const std::vector<int64_t> k = codes.to_vector<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      std::vector<int64_t> ids(k.begin() + i * count, k.begin() + (i + 1) * count);
      for (int64_t& id : ids) id += model.vocab.text;
      print_ids(ids);
    }
    return 0;
  }
  const std::vector<int64_t> generated =
      generate_text(*model.lm, model.vocab, prompt, steps, {}, flags.sampling, flags.seed);
  if (tok) {
    std::vector<int64_t> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    std::printf("%s\n", tok->decode(all, /*skip_special=*/false).c_str());
  } else {
    print_ids(generated);
  }
  return 0;
}

const Register reg(
    {"generate", "decode text or X-Omni image tokens from a backbone with the KV cache",
     "usage: xomni generate (--model DIR | --checkpoint CKPT.h5)\n"
     "                      (--prompt-ids \"ID ...\" | --prompt TEXT --tokenizer TOK.json)\n"
     "                      [--steps N] [--temperature T] [--top-k K] [--top-p P] [--min-p M]\n"
     "                      [--seed S] [--backbone NAME] [--tokenizer-plugin NAME]\n"
     "       xomni generate ... --image-grid HxW [--add-image-prefix] [--n N] [--cfg G]\n\n"
     "DIR holds a Hugging Face config.json and model.safetensors (or a sharded\n"
     "model.safetensors.index.json), read by the backbone plugin NAME (default: \"xomni\"\n"
     "when config.json says model_type \"x-omni\", else \"qwen2\"); a checkpoint of xomni\n"
     "train names its plugin in its saved job config, one of xomni convert carries the\n"
     "folder's config.json.\n\n"
     "Text (the default): N >= 0 steps (32) in the model's text mode; prints the token ids,\n"
     "or the text with --tokenizer. Temperature T >= 0 (0, the default, is greedy).\n\n"
     "Images (--image-grid HxW, X-Omni models only): samples exactly H*W image tokens in the\n"
     "model's image mode after the prompt and prints them as token ids (image code k is id\n"
     "V + k, V the text vocabulary), one line per sample (--n N samples, batched; sample i\n"
     "draws with seed S + i, so it is the same in any batch). The prompt\n"
     "must already end with the image prefix <SOM>H W<IMAGE>, unless --add-image-prefix\n"
     "appends it (encoded with --tokenizer, which must have the X-Omni special tokens).\n"
     "Image defaults are the paper's: temperature 1, min-p 0.03, top-p 1, no top-k.\n"
     "--cfg G (1: off) is classifier-free guidance, G * (logsoftmax(cond) -\n"
     "logsoftmax(uncond)) + logsoftmax(uncond), the unconditional prompt being the image\n"
     "prefix alone (needs --tokenizer).\n\n"
     "Sampling applies temperature, top-k K (0: off, at most the sampled vocabulary), top-p\n"
     "P in (0, 1] (1: off) and min-p M in [0, 1] (0: off; keeps tokens with probability\n"
     ">= M times the top one), in this order. The prompt plus the generated tokens must fit\n"
     "the model's max_position_embeddings.",
     run});

}  // namespace
}  // namespace xomni::cli
