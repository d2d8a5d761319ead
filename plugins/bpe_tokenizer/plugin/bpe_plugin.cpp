// The byte-level BPE tokenizer as a component plugin: kind "text_tokenizer", name "bpe".
// Settings: {"path": "tokenizer.json"} (Hugging Face format) or {"train_texts": [...],
// "vocab_size": N, "special_tokens": [...]} to learn one.
#include <nlohmann/json.hpp>

#include "xomni/bpe/tokenizer.h"
#include "xomni/bpe/trainer.h"
#include "xomni/core/tensor/error.h"
#include "xomni/plugins/component_abi.h"
#include "xomni/plugins/components.h"

namespace {
using xomni::Error;

class BpeTextTokenizer final : public xomni::plugins::TextTokenizer {
 public:
  explicit BpeTextTokenizer(xomni::bpe::Tokenizer tok) : tok_(std::move(tok)) {}
  std::vector<int64_t> encode(std::string_view text, bool allow_special) const override {
    const std::vector<int32_t> ids = tok_.encode(text, allow_special);
    return {ids.begin(), ids.end()};
  }
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override {
    const std::vector<int32_t> narrow(ids.begin(), ids.end());
    return tok_.decode(narrow, skip_special);
  }
  int64_t vocab_size() const override { return tok_.vocab_size(); }
  void save(const std::string& path) const override { tok_.save(path); }

 private:
  xomni::bpe::Tokenizer tok_;
};

xomni::plugins::Component* create(const xomni::plugins::ComponentContext& context) {
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(context.config_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(context.where + ": the bpe tokenizer settings are not JSON: " + e.what());
  }
  if (cfg.contains("path"))
    return new BpeTextTokenizer(
        xomni::bpe::Tokenizer::from_file(cfg.at("path").get<std::string>()));
  if (!cfg.contains("train_texts") || !cfg.contains("vocab_size"))
    throw Error(context.where +
                ": the bpe tokenizer needs \"path\" (a tokenizer.json) or \"train_texts\" and "
                "\"vocab_size\"");
  const auto texts = cfg.at("train_texts").get<std::vector<std::string>>();
  const auto special = cfg.value("special_tokens", std::vector<std::string>{});
  return new BpeTextTokenizer(
      xomni::bpe::train_bpe(texts, cfg.at("vocab_size").get<size_t>(), special));
}

const XomniComponentPlugin kPlugin = {XOMNI_COMPONENT_ABI_VERSION, "text_tokenizer", "bpe",  "1.0",
                                      XOMNI_BUILD_FINGERPRINT,     &create,          nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const XomniComponentPlugin*
xomni_component_plugin(void) {
  return &kPlugin;
}
