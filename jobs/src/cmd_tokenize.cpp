// xomni tokenize: UTF-8 lines on stdin -> one line of space-separated token ids per input line
// (or the reverse with --decode), with a Hugging Face tokenizer.json.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "cli.h"
#include "cli_tokenizer.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string path = take_option(args, "--tokenizer");
  const std::string plugin = take_option(args, "--tokenizer-plugin");
  const bool decode = take_flag(args, "--decode");
  const bool no_special = take_flag(args, "--no-special");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!path.empty(), "--tokenizer <tokenizer.json> is required");
  const auto tok = load_tokenizer(path, plugin);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (decode) {
      std::vector<int64_t> ids;
      std::istringstream in(line);
      std::string word;
      while (in >> word) {
        try {
          size_t used = 0;
          const long v = std::stol(word, &used);
          XOMNI_CHECK(used == word.size(), "");
          ids.push_back(v);
        } catch (const std::exception&) {
          throw Error("stdin line " + std::to_string(line_no) + ": '" + word +
                      "' is not a token id");
        }
      }
      const std::string text = tok->decode(ids, no_special);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
    } else {
      const std::vector<int64_t> ids = tok->encode(line, !no_special);
      for (size_t i = 0; i < ids.size(); ++i)
        std::printf(i ? " %lld" : "%lld", static_cast<long long>(ids[i]));
      std::printf("\n");
    }
  }
  return 0;
}

const Register reg(
    {"tokenize", "text <-> token ids with a tokenizer.json (stdin to stdout)",
     "usage: xomni tokenize --tokenizer tokenizer.json [--decode] [--no-special]\n"
     "                      [--tokenizer-plugin NAME]   (default bpe)\n\n"
     "Encodes each UTF-8 line of stdin to one line of space-separated ids; with\n"
     "--decode, turns each line of ids back into text. --no-special treats special\n"
     "token text as plain text when encoding and drops special tokens when decoding.",
     run});

}  // namespace
}  // namespace xomni::cli
