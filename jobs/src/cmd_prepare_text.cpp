// xomni prepare-text: plain-text files -> token shards for `xomni train`. Documents are the
// paragraphs of the input (separated by blank lines); the tokenizer is given or trained here.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.h"
#include "cli_tokenizer.h"
#include "staged_folder.h"
#include "xomni/core/data/token_data.h"

namespace xomni::cli {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> paragraphs(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "prepare-text: cannot open ", path);
  std::vector<std::string> out;
  std::string line, current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(current);
    current.clear();
  };
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      flush();
    } else {
      current += line + "\n";
    }
  }
  flush();
  return out;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  std::vector<std::string> inputs;
  for (std::string v = take_option(args, "--input"); !v.empty(); v = take_option(args, "--input"))
    inputs.push_back(v);
  const std::string out = take_option(args, "--out");
  const std::string tokenizer = take_option(args, "--tokenizer");
  const std::string vocab = take_option(args, "--vocab-size");
  const std::string valid_every = take_option(args, "--valid-every");
  const std::string plugin = take_option(args, "--tokenizer-plugin");
  const bool overwrite = take_flag(args, "--overwrite");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!inputs.empty() && !out.empty(),
              "--input FILE (one or more) and --out DIR are required");
  XOMNI_CHECK(tokenizer.empty() != vocab.empty(),
              "give exactly one of --tokenizer tokenizer.json and --vocab-size N (train one here)");
  // Token ids are int32; a vocabulary needs the 256 byte symbols and <|endoftext|>.
  const int64_t vocab_size_wanted =
      parse_int(vocab, "--vocab-size", 0, vocab.empty() ? 0 : 257, INT32_MAX);
  const int64_t k = parse_int(valid_every, "--valid-every", 20, 0);
  std::vector<std::string> docs;
  for (const std::string& f : inputs) {
    std::vector<std::string> p = paragraphs(f);
    docs.insert(docs.end(), p.begin(), p.end());
  }
  XOMNI_CHECK(!docs.empty(), "prepare-text: the inputs hold no text");
  // Written beside `out` and moved into its place when complete: a failure leaves `out` as it was.
  StagedFolder staged(out, overwrite, "--overwrite");
  const fs::path dir = staged.path();
  const auto tok = tokenizer.empty()
                       ? train_tokenizer(docs, vocab_size_wanted, {"<|endoftext|>"}, plugin)
                       : load_tokenizer(tokenizer, plugin);
  tok->save((dir / "tokenizer.json").string());
  // Every k-th paragraph goes to the validation set (k = 0: none).
  std::vector<std::vector<int32_t>> train, valid;
  int64_t n_tokens = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::vector<int64_t> ids = tok->encode(docs[i], /*allow_special=*/false);
    n_tokens += int64_t(ids.size());
    (k > 0 && int64_t(i) % k == k - 1 ? valid : train).emplace_back(ids.begin(), ids.end());
  }
  const int64_t vocab_size = tok->vocab_size();
  write_token_shards((dir / "train").string(), train, 1 << 20, vocab_size);
  if (!valid.empty()) write_token_shards((dir / "valid").string(), valid, 1 << 20, vocab_size);
  staged.commit();
  std::printf("%zu documents, %lld tokens, vocabulary %lld -> %s/{%stokenizer.json}\n", docs.size(),
              static_cast<long long>(n_tokens), static_cast<long long>(vocab_size), out.c_str(),
              valid.empty() ? "train," : "train,valid,");
  return 0;
}

const Register reg(
    {"prepare-text", "text files -> token shards (and a trained BPE tokenizer)",
     "usage: xomni prepare-text --input FILE [--input FILE ...] --out DIR\n"
     "                          (--tokenizer tokenizer.json | --vocab-size N)\n"
     "                          [--valid-every K] [--tokenizer-plugin NAME] [--overwrite]\n\n"
     "Paragraphs (text between blank lines) become documents. Writes DIR/train and\n"
     "DIR/valid token shards (every K-th paragraph, default 20, is validation) and\n"
     "DIR/tokenizer.json (the one given, or a byte-level BPE trained to N entries).\n"
     "K = 0 writes no validation set. A non-empty DIR is refused without\n"
     "--overwrite; the new folder is written beside it and takes its place only\n"
     "when complete, so a failure leaves DIR as it was.",
     run});

}  // namespace
}  // namespace xomni::cli
