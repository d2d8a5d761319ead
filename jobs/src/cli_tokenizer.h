#pragma once
// Text tokenizers for the commands, through the plugin registry.
#include <memory>
#include <string>
#include <vector>

#include "xomni/plugins/components.h"

namespace xomni::cli {

// The tokenizer stored at `path` (e.g. a tokenizer.json), read by the text_tokenizer plugin
// `plugin` ("" = "bpe").
std::unique_ptr<plugins::TextTokenizer> load_tokenizer(const std::string& path,
                                                       const std::string& plugin = "");
// A tokenizer of `vocab_size` entries learnt from `documents` by `plugin` ("" = "bpe").
std::unique_ptr<plugins::TextTokenizer> train_tokenizer(const std::vector<std::string>& documents,
                                                        int64_t vocab_size,
                                                        const std::vector<std::string>& special,
                                                        const std::string& plugin = "");

}  // namespace xomni::cli
