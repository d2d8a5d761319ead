// LM job files: TOML parsing, the schema check (the trainer's sections, [optimizer],
// [schedule], the backbone plugin's [model] fields, [data]) and the typed options. A job that
// parses must render to TOML that parses back to the same text.
#include <cstdio>
#include <cstdlib>

#include "fuzz_target.h"
#include "lm/lm_job.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_job_toml", [&] {
    // The backbone is pinned: a fuzzed model.backbone would dlopen arbitrary files.
    const std::vector<std::string> pin = {"model.backbone=qwen2"};
    const std::string text(xomni::fuzz::as_text(data, size));
    const xomni::Config config = xomni::train::parse_lm_config(text, "<fuzz>", pin);
    const std::string rendered = config.to_toml();
    const std::string again = xomni::train::parse_lm_config(rendered, "<rendered>", pin).to_toml();
    if (again != rendered) {
      std::fprintf(stderr, "fuzz_job_toml: to_toml is not a fixed point:\n%s\n---\n%s\n",
                   rendered.c_str(), again.c_str());
      std::abort();
    }
    xomni::train::parse_lm_job(config);
  });
}
