// tokenizer.json as this library writes it (key order as Hugging Face tokenizers saves it).
#include "tokenizer_json.h"

namespace xomni::bpe::internal {

using ordered_json = nlohmann::ordered_json;

ordered_json tokenizer_json(const TokenizerJsonParts& parts) {
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ordered_json added = ordered_json::array();
  for (const AddedToken& a : parts.added_tokens) {
    ordered_json t;
    t["id"] = a.id;
    t["content"] = a.content;
    t["single_word"] = a.single_word;
    t["lstrip"] = a.lstrip;
    t["rstrip"] = a.rstrip;
    t["normalized"] = a.normalized;
    t["special"] = a.special;
    added.push_back(std::move(t));
  }
  root["added_tokens"] = std::move(added);
  root["normalizer"] = parts.normalizer;
  root["pre_tokenizer"] = parts.pre_tokenizer;
  root["post_processor"] = parts.post_processor;
  root["decoder"] = parts.decoder;
  ordered_json model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = "";
  model["end_of_word_suffix"] = "";
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = parts.ignore_merges;
  ordered_json vocab = ordered_json::object();
  for (const auto& [id, token] : parts.vocab) vocab[std::string(token)] = id;
  model["vocab"] = std::move(vocab);
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : parts.merges) merges.push_back(ordered_json::array({a, b}));
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  return root;
}

}  // namespace xomni::bpe::internal
