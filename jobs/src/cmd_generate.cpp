// xomni generate: decode tokens from a Qwen2 model (Hugging Face folder: config.json plus
// safetensors) with the KV cache: greedy, or sampled with temperature, top-k and top-p.
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "lm_trainer.h"
#include "xomni/core/autograd.h"
#include "xomni/core/sampling.h"
#include "xomni/qwen2/model.h"
#ifdef XOMNI_HAVE_BPE
#include "xomni/bpe/tokenizer.h"
#endif

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
  const std::string checkpoint = take_option(args, "--checkpoint");
  const std::string prompt_ids = take_option(args, "--prompt-ids");
  const std::string prompt_text = take_option(args, "--prompt");
  const std::string tokenizer_path = take_option(args, "--tokenizer");
  const auto steps = int64_t(number(take_option(args, "--steps"), "--steps", 32));
  const double temperature = number(take_option(args, "--temperature"), "--temperature", 0.0);
  const auto top_k = int64_t(number(take_option(args, "--top-k"), "--top-k", 0));
  const double top_p = number(take_option(args, "--top-p"), "--top-p", 1.0);
  const auto seed = uint64_t(number(take_option(args, "--seed"), "--seed", 0));
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(model_dir.empty() != checkpoint.empty(),
              "give exactly one of --model <Hugging Face folder> and --checkpoint <ckpt.h5>");
  XOMNI_CHECK(prompt_ids.empty() != prompt_text.empty(),
              "give exactly one of --prompt-ids \"ID ...\" and --prompt TEXT");
  std::unique_ptr<qwen2::CausalLM> owned;
  if (!checkpoint.empty()) {
    owned = train::load_checkpoint_model(checkpoint);
  } else {
    owned = std::make_unique<qwen2::CausalLM>(
        qwen2::Config::from_json_file(model_dir + "/config.json"), 0);
    owned->load_weights(load_safetensors_any(model_dir));
  }
  const qwen2::CausalLM& lm = *owned;
#ifdef XOMNI_HAVE_BPE
  std::unique_ptr<bpe::Tokenizer> tok;
  if (!tokenizer_path.empty())
    tok = std::make_unique<bpe::Tokenizer>(bpe::Tokenizer::from_file(tokenizer_path));
#else
  XOMNI_CHECK(tokenizer_path.empty(), "--tokenizer: this build has no BPE tokenizer");
  void* tok = nullptr;
#endif
  std::vector<int64_t> prompt;
  if (!prompt_text.empty()) {
    XOMNI_CHECK(tok, "--prompt TEXT needs --tokenizer tokenizer.json");
#ifdef XOMNI_HAVE_BPE
    for (int32_t id : tok->encode(prompt_text)) prompt.push_back(id);
#endif
  } else {
    prompt = parse_ids(prompt_ids);
  }
  NoGradGuard no_grad;
  std::vector<int64_t> feed = prompt, generated;
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
    generated.push_back(next);
    feed = {next};
  }
  if (tok) {
#ifdef XOMNI_HAVE_BPE
    std::vector<int32_t> all(prompt.begin(), prompt.end());
    all.insert(all.end(), generated.begin(), generated.end());
    std::printf("%s\n", tok->decode(all).c_str());
#endif
  } else {
    for (size_t i = 0; i < generated.size(); ++i)
      std::printf(i ? " %lld" : "%lld", static_cast<long long>(generated[i]));
    std::printf("\n");
  }
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
