// xomni data mm-pack: image datasets -> loss-masked multimodal token shards (jobs/mm/mm_pack.h);
// xomni data mm-tokenizer: the shared text tokenizer (byte-level BPE with <|endoftext|>, <SOM>,
// <EOM>, <IMAGE>) learnt from the datasets' captions, questions and answers and text files.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "cli_tokenizer.h"
#include "cmd_data.h"
#include "mm/mm_corpus.h"
#include "mm/mm_documents.h"
#include "mm/mm_pack.h"
#include "staged_folder.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {

namespace {

void no_more(const std::vector<std::string>& args, const char* command) {
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0],
              "' for xomni data ", command, " (see xomni data --help)");
}

}  // namespace

int data_mm_pack_main(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  mm::MmPackOptions o;
  o.tokenizer = take_option(args, "--tokenizer");
  o.image_tokenizer = take_option(args, "--image-tokenizer");
  o.decoder = take_option(args, "--decoder");
  o.images = take_all(args, "--images");
  o.text_files = take_all(args, "--input");
  const std::string kind = take_option(args, "--kind");
  if (!kind.empty()) o.kind = kind;
  o.seed = uint64_t(parse_int(take_option(args, "--seed"), "--seed", 0, 0));
  o.short_edge = parse_int(take_option(args, "--size"), "--size", 0, 0, 1 << 16);
  o.max_long_edge = parse_int(take_option(args, "--max-size"), "--max-size", 0, 0, 1 << 16);
  o.batch = parse_int(take_option(args, "--batch"), "--batch", 16, 1, 4096);
  o.questions_per_document = parse_int(take_option(args, "--questions-per-document"),
                                       "--questions-per-document", 1, 1, 1 << 20);
  o.tokens_per_shard =
      parse_int(take_option(args, "--tokens-per-shard"), "--tokens-per-shard", int64_t(1) << 20, 1);
  const std::string out = take_option(args, "--out");
  const bool overwrite = take_flag(args, "--overwrite");
  no_more(args, "mm-pack");
  XOMNI_CHECK(!out.empty(), "--out DIR is required");
  StagedFolder staged(out, overwrite, "--overwrite");
  const mm::MmPackSummary s = mm::mm_pack(o, staged.path());
  staged.commit();
  std::printf(
      "%s: %lld images -> %lld generation, %lld understanding, %lld text documents; "
      "%lld tokens, %lld supervised; vocabulary %lld (text %lld + image %lld)\n",
      out.c_str(), (long long)s.images, (long long)s.generation, (long long)s.understanding,
      (long long)s.text, (long long)s.tokens, (long long)s.supervised, (long long)s.vocab_size,
      (long long)s.text_vocab_size, (long long)s.image_vocab_size);
  if (!s.grids.empty()) {
    std::printf("grids:");
    for (const auto& [g, n] : s.grids)
      std::printf(" %lldx%lld (%lld images)", (long long)g.first, (long long)g.second,
                  (long long)n);
    std::printf("\n");
  }
  return 0;
}

int data_mm_tokenizer_main(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::vector<std::string> images = take_all(args, "--images");
  const std::vector<std::string> files = take_all(args, "--input");
  const std::string vocab = take_option(args, "--vocab-size");
  const std::string out = take_option(args, "--out");
  const bool overwrite = take_flag(args, "--overwrite");
  no_more(args, "mm-tokenizer");
  XOMNI_CHECK(!out.empty() && !vocab.empty(),
              "--vocab-size N and --out tokenizer.json are "
              "required");
  XOMNI_CHECK(!images.empty() || !files.empty(), "give --images DATASET or --input FILE (or both)");
  XOMNI_CHECK(overwrite || !std::filesystem::exists(out), out,
              " exists; pass --overwrite to replace it");
  // The 256 byte symbols and the four special tokens at least.
  const int64_t vocab_size = parse_int(vocab, "--vocab-size", 0, 260, INT32_MAX);
  std::vector<std::string> texts = mm::image_dataset_texts(images);
  const std::vector<std::string> paragraphs = mm::file_paragraphs(files);
  texts.insert(texts.end(), paragraphs.begin(), paragraphs.end());
  XOMNI_CHECK(!texts.empty(), "the inputs hold no text to learn from");
  const auto tok =
      train_tokenizer(texts, vocab_size, {mm::kEndOfText, mm::kSom, mm::kEom, mm::kImage});
  // Written beside and renamed: a failure leaves an older tokenizer.json as it was.
  const std::string tmp = out + ".tmp";
  tok->save(tmp);
  std::filesystem::rename(tmp, out);
  const mm::SpecialTokenIds sp = mm::find_special_tokens(*tok, out);
  std::printf(
      "%s: %lld entries from %zu texts; <|endoftext|> %lld, <SOM> %lld, <EOM> %lld, "
      "<IMAGE> %lld\n",
      out.c_str(), (long long)tok->vocab_size(), texts.size(), (long long)sp.eos, (long long)sp.som,
      (long long)sp.eom, (long long)sp.image);
  return 0;
}

}  // namespace xomni::cli
