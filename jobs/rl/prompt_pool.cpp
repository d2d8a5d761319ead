#include "rl/prompt_pool.h"

#include <utility>

#include "rl/mix64.h"
#include "xomni/core/tensor/error.h"
#include "xomni/world/prompt_file.h"

namespace xomni::rl {
namespace {

constexpr int64_t kStateFormat = 1;

}  // namespace

PromptPool::PromptPool(std::vector<world::Prompt> prompts, uint64_t seed, std::string source)
    : prompts_(std::move(prompts)), seed_(seed), source_(std::move(source)) {
  XOMNI_CHECK(!prompts_.empty(), source_, ": the prompt pool is empty");
}

const std::vector<int64_t>& PromptPool::order_of(int64_t epoch) const {
  if (epoch == cached_epoch_) return cached_order_;
  const int64_t n = size();
  cached_order_.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) cached_order_[size_t(i)] = i;
  uint64_t state = mix64(seed_ ^ mix64(uint64_t(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    state = mix64(state);
    std::swap(cached_order_[size_t(i)], cached_order_[size_t(state % uint64_t(i + 1))]);
  }
  cached_epoch_ = epoch;
  return cached_order_;
}

std::vector<world::Prompt> PromptPool::take(int64_t round, int64_t per_round, int64_t first,
                                            int64_t count) const {
  std::vector<world::Prompt> out;
  for (int64_t slot = first; slot < first + count; ++slot) {
    const int64_t g = round * per_round + slot;
    out.push_back(prompts_[size_t(order_of(g / size())[size_t(g % size())])]);
  }
  return out;
}

std::vector<int64_t> PromptPool::state(int64_t rounds_done) const {
  return {kStateFormat, int64_t(seed_), size(), rounds_done};
}

int64_t PromptPool::restore(const std::vector<int64_t>& s) const {
  XOMNI_CHECK(s.size() == 4 && s[0] == kStateFormat, source_,
              ": the checkpoint's prompt-pool position is not one this version writes");
  XOMNI_CHECK(uint64_t(s[1]) == seed_ && s[2] == size(), source_,
              ": the checkpoint was written for a prompt pool of ", s[2], " prompts with seed ",
              uint64_t(s[1]), ", this run has ", size(), " prompts with seed ", seed_,
              "; resume with the same rl.prompts / rl.prompt_seed / rl.prompt_count, or start a "
              "new run.name");
  return s[3];
}

PromptPool make_prompt_pool(const RlOptions& o) {
  if (!o.prompts.empty())
    return PromptPool(world::read_prompt_file(o.prompts), o.prompt_seed, o.prompts);
  return PromptPool(world::training_prompts(o.prompt_seed, o.prompt_count, o.text_fraction),
                    o.prompt_seed, "the world's training prompts (rl.prompt_seed)");
}

}  // namespace xomni::rl
