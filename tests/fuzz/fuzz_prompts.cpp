// Prompt JSONL files (what `xomni data prompts` writes and evaluation reads). A prompt that
// parses must write back as a line that parses to the same prompt.
#include <cstdio>
#include <cstdlib>

#include "fuzz_target.h"
#include "xomni/world/prompt_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_prompts", [&] {
    const auto prompts = xomni::world::read_prompt_file(
        xomni::fuzz::write_scratch("prompts.jsonl", xomni::fuzz::as_text(data, size)));
    for (const auto& p : prompts) {
      const auto q = xomni::world::parse_prompt_line(xomni::world::prompt_json_line(p), "<again>");
      if (q.set != p.set || q.task != p.task || q.category != p.category || q.text != p.text ||
          q.metadata_json != p.metadata_json) {
        std::fprintf(stderr, "fuzz_prompts: write + read changed a prompt\n");
        std::abort();
      }
    }
  });
}
