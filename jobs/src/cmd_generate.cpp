// xomni generate: decode tokens from a Qwen2 model (Hugging Face folder: config.json plus
// safetensors) with the KV cache: greedy, or sampled with temperature, top-k and top-p.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "cli.h"
#include "cli_tokenizer.h"
#include "lm/lm_components.h"
#include "xomni/core/ops/sampling.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::cli {
namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "cannot read ", path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

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

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string model_dir = take_option(args, "--model");
  const std::string checkpoint = take_option(args, "--checkpoint");
  const std::string prompt_ids = take_option(args, "--prompt-ids");
  const std::string prompt_text = take_option(args, "--prompt");
  const std::string tokenizer_path = take_option(args, "--tokenizer");
  const std::string tokenizer_plugin = take_option(args, "--tokenizer-plugin");
  const std::string backbone = take_option(args, "--backbone");
  const auto steps = int64_t(parse_number(take_option(args, "--steps"), "--steps", 32));
  const double temperature = parse_number(take_option(args, "--temperature"), "--temperature", 0.0);
  const auto top_k = int64_t(parse_number(take_option(args, "--top-k"), "--top-k", 0));
  const double top_p = parse_number(take_option(args, "--top-p"), "--top-p", 1.0);
  const auto seed = uint64_t(parse_number(take_option(args, "--seed"), "--seed", 0));
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(model_dir.empty() != checkpoint.empty(),
              "give exactly one of --model <Hugging Face folder> and --checkpoint <ckpt.h5>");
  XOMNI_CHECK(prompt_ids.empty() != prompt_text.empty(),
              "give exactly one of --prompt-ids \"ID ...\" and --prompt TEXT");
  std::unique_ptr<plugins::Backbone> lm;
  if (!checkpoint.empty()) {
    lm = train::load_checkpoint_model(checkpoint);
  } else {
    plugins::ComponentContext ctx;
    ctx.config_json = read_text_file(model_dir + "/config.json");
    ctx.where = model_dir + "/config.json";
    lm = plugins::create_backbone(backbone.empty() ? "qwen2" : backbone, ctx);
    lm->load_weights(load_safetensors_any(model_dir));
  }
  std::unique_ptr<plugins::TextTokenizer> tok;
  if (!tokenizer_path.empty()) tok = load_tokenizer(tokenizer_path, tokenizer_plugin);
  std::vector<int64_t> prompt;
  if (!prompt_text.empty()) {
    XOMNI_CHECK(tok, "--prompt TEXT needs --tokenizer tokenizer.json");
    prompt = tok->encode(prompt_text, /*allow_special=*/true);
  } else {
    prompt = parse_ids(prompt_ids);
  }
  NoGradGuard no_grad;
  std::vector<int64_t> feed = prompt, generated;
  const std::unique_ptr<plugins::DecodeCache> cache =
      lm->new_cache(1, int64_t(feed.size()) + steps);
  Generator gen(seed);
  for (int64_t s = 0; s < steps; ++s) {
    plugins::BackboneInputs in;
    in.cache = cache.get();
    Tensor logits = lm->logits(Tensor::from_vector(feed, {1, int64_t(feed.size())}), in);
    Tensor last =
        reshape(slice(logits, 1, logits.size(1) - 1, logits.size(1)), {1, lm->vocab_size()});
    if (top_k > 0) last = top_k_filter(last, top_k);
    if (top_p < 1.0) last = top_p_filter(last, top_p);
    const int64_t next = multinomial(last, gen, temperature).to_vector<int64_t>()[0];
    generated.push_back(next);
    feed = {next};
  }
  if (tok) {
    std::vector<int64_t> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    std::printf("%s\n", tok->decode(all, /*skip_special=*/false).c_str());
  } else {
    for (size_t i = 0; i < generated.size(); ++i)
      std::printf(i ? " %lld" : "%lld", static_cast<long long>(generated[i]));
    std::printf("\n");
  }
  return 0;
}

const Register reg(
    {"generate", "decode tokens from a backbone (Qwen2 by default) with the KV cache",
     "usage: xomni generate (--model DIR | --checkpoint CKPT.h5)\n"
     "                      (--prompt-ids \"ID ...\" | --prompt TEXT --tokenizer TOK.json)\n"
     "                      [--steps N] [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
     "                      [--backbone NAME] [--tokenizer-plugin NAME]\n\n"
     "DIR holds a Hugging Face config.json and model.safetensors (or a sharded\n"
     "model.safetensors.index.json), read by the backbone plugin NAME (default qwen2);\n"
     "a checkpoint names its plugin in its saved job config. Temperature 0 (the\n"
     "default) is greedy decoding. Prints the token ids, or the text with --tokenizer.",
     run});

}  // namespace
}  // namespace xomni::cli
