#pragma once
// The GRPO prompt pool: prompts (a JSONL prompt file, or the world's training prompts) visited in
// a seeded order that is reshuffled every epoch. Which prompts a rollout round takes is a pure
// function of (seed, round), so a resumed run needs only the round count to continue exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "rl/rl_job.h"
#include "xomni/world/prompt_sets.h"

namespace xomni::rl {

class PromptPool {
 public:
  PromptPool(std::vector<world::Prompt> prompts, uint64_t seed, std::string source);

  int64_t size() const { return int64_t(prompts_.size()); }
  const std::string& source() const { return source_; }
  // The prompts of slots [first, first + count) of round `round`, which takes `per_round` prompts
  // in all (a data-parallel rank takes its own contiguous share of slots).
  std::vector<world::Prompt> take(int64_t round, int64_t per_round, int64_t first,
                                  int64_t count) const;

  // Checkpointed position: {format, seed, pool size, rounds done}; restore() refuses a position
  // written for another pool.
  std::vector<int64_t> state(int64_t rounds_done) const;
  int64_t restore(const std::vector<int64_t>& state) const;  // returns rounds done

 private:
  const std::vector<int64_t>& order_of(int64_t epoch) const;
  std::vector<world::Prompt> prompts_;
  uint64_t seed_;
  std::string source_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_order_;
};

// The pool an RL job names: rl.prompts, or rl.prompt_count world training prompts from
// rl.prompt_seed (rl.text_fraction of them text rendering).
PromptPool make_prompt_pool(const RlOptions& options);

}  // namespace xomni::rl
