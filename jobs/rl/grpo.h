#pragma once
// GRPO as X-Omni uses it: group-normalised advantages over the G rollouts of one prompt, a
// PPO-style clipped policy term per image token, and a k3 KL estimate to a frozen reference.
#include <cstdint>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni::rl {

struct GroupAdvantages {
  std::vector<float> advantages;  // one per rollout
  int64_t zero_std_groups = 0;    // groups whose rewards are all equal
};

// Rewards come in groups of `group_size` consecutive rollouts (the same prompt). Per rollout
// A_i = (r_i - mean(group)) / (std(group) + eps) with the unbiased std (divide by G - 1); a group
// whose rewards are all equal gets A = 0 for every member and counts in zero_std_groups.
// group_size must be >= 2 (one rollout has nothing to compare against) and divide the count.
GroupAdvantages group_advantages(const std::vector<float>& rewards, int64_t group_size,
                                 double eps = 1e-6);

struct GrpoOptions {
  double clip_eps = 0.2;
  double kl_weight = 0.01;  // 0: no KL term, ref_logp may be undefined
  double log_ratio_clamp = 20;
};

// Sums over the counted tokens (so callers can add them over ranks before dividing).
struct GrpoTerms {
  Tensor loss;            // scalar with autograd: (sum of per-token losses) / token_count
  double policy_sum = 0;  // sum of policy terms
  double kl_sum = 0;      // sum of kl (unweighted)
  double clipped = 0;     // tokens where the clipped branch is the max and differs (ratio
                          // outside [1-eps, 1+eps] in the direction the clip bites)
  double tokens = 0;      // counted tokens here
};

// Per token t of rollout i with mask 1:
//   r = exp(clamp(logp - logp_old, -c, c)),  policy = max(-A r, -A clamp(r, 1-eps, 1+eps)),
//   d = clamp(ref_logp - logp, -c, c),        kl = exp(d) - d - 1,
//   loss_t = policy + kl_weight * kl;         loss = sum_t loss_t / token_count.
// logp, logp_old, ref_logp, mask: [N, L] f32 (mask 1 for counted tokens, 0 otherwise);
// advantages: [N] f32. logp carries autograd; the others are treated as constants. token_count
// is the number of counted tokens over every data-parallel rank (the caller adds them up).
// Entries under mask 0 may hold anything, even inf or NaN: they contribute neither value nor
// gradient.
GrpoTerms grpo_loss(const Tensor& logp, const Tensor& logp_old, const Tensor& ref_logp,
                    const Tensor& advantages, const Tensor& mask, double token_count,
                    const GrpoOptions& options);

}  // namespace xomni::rl
