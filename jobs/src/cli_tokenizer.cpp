#include "cli_tokenizer.h"

#include <nlohmann/json.hpp>

#include "xomni/plugins/component_registry.h"

namespace xomni::cli {
namespace {
std::unique_ptr<plugins::TextTokenizer> make(const nlohmann::json& settings,
                                             const std::string& plugin, const std::string& where) {
  plugins::ComponentContext ctx;
  ctx.config_json = settings.dump();
  ctx.where = where;
  return plugins::create_text_tokenizer(plugin.empty() ? "bpe" : plugin, ctx);
}
}  // namespace

std::unique_ptr<plugins::TextTokenizer> load_tokenizer(const std::string& path,
                                                       const std::string& plugin) {
  return make({{"path", path}}, plugin, "--tokenizer " + path);
}

std::unique_ptr<plugins::TextTokenizer> train_tokenizer(const std::vector<std::string>& documents,
                                                        int64_t vocab_size,
                                                        const std::vector<std::string>& special,
                                                        const std::string& plugin) {
  return make({{"train_texts", documents}, {"vocab_size", vocab_size}, {"special_tokens", special}},
              plugin, "--vocab-size " + std::to_string(vocab_size));
}

}  // namespace xomni::cli
