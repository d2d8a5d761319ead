// The sampling flags of the decoding commands (see sampling_options.h).
#include "sampling_options.h"

#include <cmath>
#include <limits>

#include "cli.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli {

uint64_t parse_seed(const std::string& text, uint64_t fallback) {
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    XOMNI_CHECK(text[0] != '-', "");
    const uint64_t v = std::stoull(text, &used);
    XOMNI_CHECK(used == text.size(), "");
    return v;
  } catch (const std::exception&) {
    throw Error("--seed: '" + text + "' is not an integer in [0, 2^64)");
  }
}

SamplingFlags take_sampling_flags(std::vector<std::string>& args, const SamplingFlags& defaults,
                                  bool with_cfg) {
  SamplingFlags f = defaults;
  SamplingOptions& s = f.sampling;
  s.temperature = parse_number(take_option(args, "--temperature"), "--temperature", s.temperature);
  XOMNI_CHECK(std::isfinite(s.temperature) && s.temperature >= 0, "--temperature: ", s.temperature,
              " is not a finite number >= 0 (0 is greedy)");
  s.top_k = parse_int(take_option(args, "--top-k"), "--top-k", s.top_k, 0);
  s.top_p = parse_number(take_option(args, "--top-p"), "--top-p", s.top_p);
  XOMNI_CHECK(std::isfinite(s.top_p) && s.top_p > 0 && s.top_p <= 1, "--top-p: ", s.top_p,
              " is outside (0, 1] (1 keeps every token)");
  s.min_p = parse_number(take_option(args, "--min-p"), "--min-p", s.min_p);
  XOMNI_CHECK(std::isfinite(s.min_p) && s.min_p >= 0 && s.min_p <= 1, "--min-p: ", s.min_p,
              " is outside [0, 1] (0 keeps every token)");
  if (with_cfg) {
    f.cfg = parse_number(take_option(args, "--cfg"), "--cfg", f.cfg);
    XOMNI_CHECK(std::isfinite(f.cfg), "--cfg: ", f.cfg, " is not a finite guidance scale (1: off)");
  }
  f.seed = parse_seed(take_option(args, "--seed"), f.seed);
  return f;
}

}  // namespace xomni::cli
