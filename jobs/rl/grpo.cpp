#include "rl/grpo.h"

#include <cmath>
#include <string>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::rl {

GroupAdvantages group_advantages(const std::vector<float>& rewards, int64_t group_size,
                                 double eps) {
  XOMNI_CHECK(group_size >= 2, "group_advantages: group_size is ", group_size,
              "; GRPO needs at least 2 rollouts per prompt to compare (set the group size >= 2)");
  XOMNI_CHECK(eps >= 0, "group_advantages: eps is ", eps, "; it must be >= 0");
  const int64_t n = int64_t(rewards.size());
  XOMNI_CHECK(n % group_size == 0, "group_advantages: ", n, " rewards do not split into groups of ",
              group_size, " (each prompt must have exactly group_size rollouts)");
  GroupAdvantages out;
  out.advantages.assign(rewards.size(), 0.0f);
  for (int64_t g0 = 0; g0 < n; g0 += group_size) {
    bool all_equal = true;
    double total = 0;
    for (int64_t i = g0; i < g0 + group_size; ++i) {
      XOMNI_CHECK(std::isfinite(rewards[size_t(i)]), "group_advantages: reward ", i, " is ",
                  rewards[size_t(i)], "; a reward plugin must return finite scores");
      all_equal = all_equal && rewards[size_t(i)] == rewards[size_t(g0)];
      total += rewards[size_t(i)];
    }
    // Equal rewards carry no signal; setting 0 explicitly keeps rounding in the mean from
    // turning into a huge advantage through the division by eps.
    if (all_equal) {
      ++out.zero_std_groups;
      continue;
    }
    const double mean = total / double(group_size);
    double squares = 0;
    for (int64_t i = g0; i < g0 + group_size; ++i)
      squares += (rewards[size_t(i)] - mean) * (rewards[size_t(i)] - mean);
    const double std = std::sqrt(squares / double(group_size - 1));
    for (int64_t i = g0; i < g0 + group_size; ++i)
      out.advantages[size_t(i)] = float((rewards[size_t(i)] - mean) / (std + eps));
  }
  return out;
}

namespace {

void check_token_tensor(const Tensor& t, const char* name, const Shape& shape) {
  XOMNI_CHECK(t.defined(), "grpo_loss: ", name, " is undefined; pass an [N, L] f32 tensor");
  XOMNI_CHECK(t.dtype() == DType::f32, "grpo_loss: ", name, " is ", dtype_name(t.dtype()),
              "; it must be f32");
  XOMNI_CHECK(t.shape() == shape, "grpo_loss: ", name, " has shape ", shape_str(t.shape()),
              " but logp has ", shape_str(shape), "; every per-token input must match");
}

}  // namespace

GrpoTerms grpo_loss(const Tensor& logp, const Tensor& logp_old, const Tensor& ref_logp,
                    const Tensor& advantages, const Tensor& mask, double token_count,
                    const GrpoOptions& options) {
  XOMNI_CHECK(logp.defined() && logp.dim() == 2, "grpo_loss: logp must be an [N, L] tensor, got ",
              logp.defined() ? shape_str(logp.shape()) : std::string("undefined"));
  const Shape shape = logp.shape();
  check_token_tensor(logp, "logp", shape);
  check_token_tensor(logp_old, "logp_old", shape);
  check_token_tensor(mask, "mask", shape);
  const bool with_kl = options.kl_weight != 0;
  if (with_kl) check_token_tensor(ref_logp, "ref_logp (needed while kl_weight != 0)", shape);
  XOMNI_CHECK(advantages.defined() && advantages.dtype() == DType::f32 &&
                  advantages.shape() == Shape{shape[0]},
              "grpo_loss: advantages must be f32 [", shape[0], "] (one per rollout of logp ",
              shape_str(shape), "), got ",
              advantages.defined() ? shape_str(advantages.shape()) : std::string("undefined"));
  XOMNI_CHECK(token_count > 0 && std::isfinite(token_count), "grpo_loss: token_count is ",
              token_count, "; pass the number of counted tokens over all ranks (> 0)");
  XOMNI_CHECK(options.clip_eps > 0 && options.clip_eps < 1, "grpo_loss: clip_eps is ",
              options.clip_eps, "; it must be in (0, 1)");
  XOMNI_CHECK(options.kl_weight >= 0, "grpo_loss: kl_weight is ", options.kl_weight,
              "; it must be >= 0");
  XOMNI_CHECK(options.log_ratio_clamp > 0, "grpo_loss: log_ratio_clamp is ",
              options.log_ratio_clamp, "; it must be > 0");

  GrpoTerms out;
  const std::vector<float> mask_values = mask.to_vector<float>();
  for (size_t i = 0; i < mask_values.size(); ++i) {
    XOMNI_CHECK(mask_values[i] == 0 || mask_values[i] == 1, "grpo_loss: mask entry ", i, " is ",
                mask_values[i], "; the mask holds 0 (ignored) or 1 (counted)");
    out.tokens += mask_values[i];
  }
  // where() rather than a product: masked entries may be inf/NaN (padding), and where's backward
  // sends them an exact zero.
  const Tensor counted = mask.to(DType::u8);
  const Tensor zero = Tensor::zeros({}, DType::f32, logp.device());
  const double c = options.log_ratio_clamp;
  const Tensor adv = unsqueeze(advantages.detach(), 1);  // [N, 1], broadcast over tokens

  const Tensor log_ratio = clamp(where(counted, logp - logp_old.detach(), zero), -c, c);
  const Tensor ratio = exp(log_ratio);
  const Tensor unclipped = neg(adv) * ratio;
  const Tensor clipped = neg(adv) * clamp(ratio, 1.0 - options.clip_eps, 1.0 + options.clip_eps);
  // max(a, b) = b + relu(a - b): at a tie (the ratio inside the band) the gradient goes through
  // b, whose clamp passes it unchanged, so it equals the unclipped one.
  const Tensor policy = clipped + relu(unclipped - clipped);
  Tensor per_token = policy;
  Tensor kl;
  if (with_kl) {
    const Tensor d = clamp(where(counted, ref_logp.detach() - logp, zero), -c, c);
    kl = exp(d) - d + (-1.0);
    per_token = per_token + kl * options.kl_weight;
  }
  out.loss = sum(where(counted, per_token, zero)) * (1.0 / token_count);

  NoGradGuard no_grad;
  out.policy_sum = sum(where(counted, policy, zero)).item();
  if (with_kl) out.kl_sum = sum(where(counted, kl, zero)).item();
  const std::vector<float> a = unclipped.to_vector<float>(), b = clipped.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i)
    if (mask_values[i] != 0 && b[i] > a[i]) out.clipped += 1;
  return out;
}

}  // namespace xomni::rl
