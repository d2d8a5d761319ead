// tokenizer.json (Hugging Face byte-level BPE): the model, merges, added tokens and the
// pre-tokenizer pattern. A tokenizer that loads must encode and decode text without failing.
#include "fuzz_target.h"
#include "xomni/bpe/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_tokenizer_json", [&] {
    const auto tok = xomni::bpe::Tokenizer::from_json(xomni::fuzz::as_text(data, size), "<fuzz>");
    const auto ids = tok.encode("Hello, world! 12 345 caf\xc3\xa9 <|endoftext|>\n\ttabs");
    tok.decode(ids);
  });
}
