// Reward set files ([[reward]] tables: plugin, weight, settings).
#include "fuzz_target.h"
#include "xomni/plugins/reward_set.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_reward_toml", [&] {
    xomni::plugins::RewardSet::parse(std::string(xomni::fuzz::as_text(data, size)), "<fuzz>");
  });
}
