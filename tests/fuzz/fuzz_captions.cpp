// Caption JSONL files of `xomni data import`.
#include "fuzz_target.h"
#include "xomni/core/data/caption_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_captions", [&] {
    xomni::read_caption_file(
        xomni::fuzz::write_scratch("captions.jsonl", xomni::fuzz::as_text(data, size)));
  });
}
