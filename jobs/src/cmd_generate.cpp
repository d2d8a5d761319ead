// xomni generate: decode tokens from a Qwen2 model (Hugging Face folder: config.json plus
// safetensors) with the KV cache: greedy, or sampled with temperature, top-k and top-p.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "cli.h"
#include "cli_tokenizer.h"
#include "lm/lm_components.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/safetensors.h"
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

// An integer flag in [min, max]; `fallback` when absent. Refuses fractions, NaN and overflow.
int64_t parse_integer(const std::string& text, const char* flag, int64_t fallback, int64_t min,
                      int64_t max) {
  if (text.empty()) return fallback;
  int64_t v = 0;
  try {
    size_t used = 0;
    v = std::stoll(text, &used);
    XOMNI_CHECK(used == text.size(), "");
  } catch (const std::exception&) {
    throw Error(std::string(flag) + ": '" + text + "' is not an integer in [" +
                std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  XOMNI_CHECK(v >= min && v <= max, flag, ": ", v, " is outside [", min, ", ", max, "]");
  return v;
}

uint64_t parse_seed(const std::string& text) {
  if (text.empty()) return 0;
  try {
    size_t used = 0;
    XOMNI_CHECK(text[0] != '-', "");
    const uint64_t v = std::stoull(text, &used);
    XOMNI_CHECK(used == text.size(), "");
    return v;
  } catch (const std::exception&) {
    throw Error("--seed: '" + text + "' is not an integer in [0, 2^64)");
  }
}

// What sampling does; every value is checked before the model is loaded.
struct Sampling {
  int64_t steps = 32;
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
};

Sampling parse_sampling(std::vector<std::string>& args) {
  Sampling s;
  // A decode step at a time: 2^31 is beyond any model's positions and keeps sums in range.
  s.steps = parse_integer(take_option(args, "--steps"), "--steps", 32, 0, int64_t(1) << 31);
  s.temperature = parse_number(take_option(args, "--temperature"), "--temperature", 0.0);
  XOMNI_CHECK(std::isfinite(s.temperature) && s.temperature >= 0, "--temperature: ", s.temperature,
              " is not a finite number >= 0 (0 is greedy)");
  s.top_k = parse_integer(take_option(args, "--top-k"), "--top-k", 0, 0,
                          std::numeric_limits<int64_t>::max());
  s.top_p = parse_number(take_option(args, "--top-p"), "--top-p", 1.0);
  XOMNI_CHECK(std::isfinite(s.top_p) && s.top_p > 0 && s.top_p <= 1, "--top-p: ", s.top_p,
              " is outside (0, 1] (1 keeps every token)");
  s.seed = parse_seed(take_option(args, "--seed"));
  return s;
}

// A checkpoint of `xomni train` (its saved job config names the backbone), or one written by
// `xomni convert` (the Hugging Face config.json it kept as metadata; tensors under "model/").
std::unique_ptr<plugins::Backbone> load_checkpoint(const std::string& path,
                                                   const std::string& backbone) {
  std::string hf_config;
  {
    CheckpointReader r(path);
    if (r.has_config()) return train::load_checkpoint_model(path);
    const std::vector<std::string> keys = r.metadata_keys();
    XOMNI_CHECK(std::find(keys.begin(), keys.end(), "hf_config_json") != keys.end(), path,
                ": holds neither a job config (a checkpoint of xomni train) nor a model config "
                "(hf_config_json, written by xomni convert from a folder with config.json); "
                "convert the model folder, not its .safetensors file");
    hf_config = r.metadata("hf_config_json");
  }
  plugins::ComponentContext ctx;
  ctx.config_json = hf_config;
  ctx.where = path + " (hf_config_json)";
  auto lm = plugins::create_backbone(backbone.empty() ? "qwen2" : backbone, ctx);
  CheckpointReader r(path);
  TensorMap weights;
  const std::string prefix = "model/";
  for (const std::string& name : r.tensor_names())
    if (name.compare(0, prefix.size(), prefix) == 0)
      weights.emplace(name.substr(prefix.size()), r.read_tensor(name));
  try {
    lm->load_weights(weights);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return lm;
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
  const Sampling sampling = parse_sampling(args);
  const int64_t steps = sampling.steps;
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(model_dir.empty() != checkpoint.empty(),
              "give exactly one of --model <Hugging Face folder> and --checkpoint <ckpt.h5>");
  XOMNI_CHECK(prompt_ids.empty() != prompt_text.empty(),
              "give exactly one of --prompt-ids \"ID ...\" and --prompt TEXT");
  std::unique_ptr<plugins::Backbone> lm;
  if (!checkpoint.empty()) {
    lm = load_checkpoint(checkpoint, backbone);
  } else {
    plugins::ComponentContext ctx;
    ctx.config_json = read_text_file(model_dir + "/config.json");
    ctx.where = model_dir + "/config.json";
    lm = plugins::create_backbone(backbone.empty() ? "qwen2" : backbone, ctx);
    try {
      lm->load_weights(load_safetensors_any(model_dir));
    } catch (const Error& e) {
      const std::string what = e.what();
      // safetensors errors already start with the file; the model's own checks do not.
      throw Error(what.find(model_dir) == std::string::npos ? model_dir + ": " + what : what);
    }
  }
  XOMNI_CHECK(sampling.top_k <= lm->vocab_size(), "--top-k: ", sampling.top_k,
              " exceeds the vocabulary size ", lm->vocab_size());
  std::unique_ptr<plugins::TextTokenizer> tok;
  if (!tokenizer_path.empty()) tok = load_tokenizer(tokenizer_path, tokenizer_plugin);
  std::vector<int64_t> prompt;
  if (!prompt_text.empty()) {
    XOMNI_CHECK(tok, "--prompt TEXT needs --tokenizer tokenizer.json");
    prompt = tok->encode(prompt_text, /*allow_special=*/true);
  } else {
    prompt = parse_ids(prompt_ids);
  }
  XOMNI_CHECK(!prompt.empty(), "the prompt holds no tokens");
  for (int64_t id : prompt)
    XOMNI_CHECK(
        id >= 0 && id < lm->vocab_size(),
        prompt_text.empty() ? "--prompt-ids: token id " : "--prompt: the tokenizer gave id ", id,
        ", outside the model's vocabulary [0, ", lm->vocab_size(), ")",
        prompt_text.empty() ? "" : " (is --tokenizer the model's own?)");
  NoGradGuard no_grad;
  std::vector<int64_t> feed = prompt, generated;
  std::unique_ptr<plugins::DecodeCache> cache;
  try {
    cache = lm->new_cache(1, int64_t(feed.size()) + steps);
  } catch (const Error& e) {
    throw Error(detail::concat("--steps ", steps, " after a prompt of ", prompt.size(),
                               " tokens: ", e.what()));
  }
  generated.reserve(size_t(steps));
  Generator gen(sampling.seed);
  for (int64_t s = 0; s < steps; ++s) {
    plugins::BackboneInputs in;
    in.cache = cache.get();
    Tensor logits = lm->logits(Tensor::from_vector(feed, {1, int64_t(feed.size())}), in);
    Tensor last =
        reshape(slice(logits, 1, logits.size(1) - 1, logits.size(1)), {1, lm->vocab_size()});
    if (sampling.top_k > 0) last = top_k_filter(last, sampling.top_k);
    if (sampling.top_p < 1.0) last = top_p_filter(last, sampling.top_p);
    const int64_t next = multinomial(last, gen, sampling.temperature).to_vector<int64_t>()[0];
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
     "a checkpoint of xomni train names its plugin in its saved job config, one of\n"
     "xomni convert carries the folder's config.json. Temperature T >= 0 (0, the\n"
     "default, is greedy decoding); top-k K >= 0 (0: off) up to the vocabulary size;\n"
     "top-p P in (0, 1] (1: off); N >= 0 steps (32), prompt + N at most the model's\n"
     "max_position_embeddings. Prints the token ids, or the text with --tokenizer.",
     run});

}  // namespace
}  // namespace xomni::cli
