// xomni generate: decode tokens from a Qwen2 model (Hugging Face folder: config.json plus
// safetensors) with the KV cache: greedy, or sampled with temperature, top-k and top-p.
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "xomni/core/autograd.h"
#include "xomni/core/sampling.h"
#include "xomni/qwen2/model.h"

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

double number(const std::string& s, const char* flag, double fallback) {
  if (s.empty()) return fallback;
  try {
    return std::stod(s);
  } catch (const std::logic_error&) {
    throw Error(std::string(flag) + ": '" + s + "' is not a number");
  }
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string model_dir = take_option(args, "--model");
  const std::string prompt = take_option(args, "--prompt-ids");
  const auto steps = int64_t(number(take_option(args, "--steps"), "--steps", 32));
  const double temperature = number(take_option(args, "--temperature"), "--temperature", 0.0);
  const auto top_k = int64_t(number(take_option(args, "--top-k"), "--top-k", 0));
  const double top_p = number(take_option(args, "--top-p"), "--top-p", 1.0);
  const auto seed = uint64_t(number(take_option(args, "--seed"), "--seed", 0));
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!model_dir.empty(), "--model <folder with config.json and safetensors> is required");
  XOMNI_CHECK(!prompt.empty(), "--prompt-ids \"<space-separated token ids>\" is required");

  qwen2::CausalLM lm(qwen2::Config::from_json_file(model_dir + "/config.json"), 0);
  lm.load_weights(load_safetensors_any(model_dir));
  NoGradGuard no_grad;
  std::vector<int64_t> feed = parse_ids(prompt);
  qwen2::KVCache cache(lm.config(), 1, int64_t(feed.size()) + steps);
  Generator gen(seed);
  for (int64_t s = 0; s < steps; ++s) {
    qwen2::ForwardOptions opt;
    opt.cache = &cache;
    Tensor logits = lm(Tensor::from_vector(feed, {1, int64_t(feed.size())}), opt);
    Tensor last =
        reshape(slice(logits, 1, logits.size(1) - 1, logits.size(1)), {1, lm.config().vocab_size});
    if (top_k > 0) last = top_k_filter(last, top_k);
    if (top_p < 1.0) last = top_p_filter(last, top_p);
    const int64_t next = multinomial(last, gen, temperature).to_vector<int64_t>()[0];
    std::printf(s ? " %lld" : "%lld", static_cast<long long>(next));
    feed = {next};
  }
  std::printf("\n");
  return 0;
}

const Register reg(
    {"generate", "decode tokens from a Qwen2 model with the KV cache",
     "usage: xomni generate --model DIR --prompt-ids \"ID ...\" [--steps N]\n"
     "                      [--temperature T] [--top-k K] [--top-p P] [--seed S]\n\n"
     "DIR holds a Hugging Face Qwen2 config.json and model.safetensors (or a sharded\n"
     "model.safetensors.index.json). Temperature 0 (the default) is greedy decoding.\n"
     "Prints the generated token ids on one line.",
     run});

}  // namespace
}  // namespace xomni::cli
