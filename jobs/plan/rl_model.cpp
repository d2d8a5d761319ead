// The RL step model: a GRPO round's phases on one layout (docs/SCALING.md, "The RL step").
#include <algorithm>

#include "plan/step_model.h"
#include "xomni/core/tensor/error.h"

namespace xomni::plan {

namespace {
constexpr double kF32 = 4.0;
}  // namespace

PlanJob rl_update_job(const PlanJob& job) {
  PlanJob u = job;
  u.rl = {};
  u.seq_len = job.rl.rollout_len();
  u.batch_size = job.batch_size * job.rl.group_size;
  u.micro_batches = 1;
  u.virtual_stages = 1;
  return u;
}

RlStepPrediction predict_rl_step(const PlanJob& job, const parallel::Layout& l,
                                 const DeviceSpec& dev) {
  const RlPlan& rl = job.rl;
  XOMNI_CHECK(rl.on, job.source, ": predict_rl_step needs an rl stage job");
  XOMNI_CHECK(l.tp == 1 && l.cp == 1 && l.pp == 1, job.source,
              ": the rl stage runs with tp = cp = ",
              "pp = 1 (rollouts sample whole rows on one rank); got ", l.str());
  XOMNI_CHECK(rl.image_tokens > 0, job.source,
              ": rl.grid is empty; the planner needs the image grid (e.g. --set rl.grid=\"8x8\")");
  XOMNI_CHECK(job.batch_size % l.dp == 0, job.source, ": dp=", l.dp,
              " does not divide train.batch_size=", job.batch_size, " (prompts per round)");
  const PlanModel& m = job.model;
  RlStepPrediction out;
  const int64_t prompts = job.batch_size / l.dp;
  const int64_t rollouts = prompts * rl.group_size;
  out.rollouts_per_rank = rollouts;
  const double R = double(rollouts), P = double(rl.prompt_tokens);
  const int64_t T = rl.rollout_len();

  out.update = predict_step(rl_update_job(job), l, dev);
  out.update_s = double(rl.updates_per_batch) * out.update.step_s;

  const NodeShare node = node_share(l, dev);
  const double share = node.compute;
  const double mem_bw = dev.memory_bw / node.memory;
  const double attention_rate = dev.achieved_attention_flops(job.bf16) / share;
  const double layers = double(m.layers), hidden = double(m.hidden);
  const double kv_width = double(m.kv_heads) * double(m.hidden / m.heads);
  const double layer_params = double(layer_parameters(m));
  // In image mode only the image head's rows are computed (mm_vocab for X-Omni).
  const double head_rows = double(m.xomni ? m.mm_vocab : m.vocab);

  // Sampling, one prompt's group at a time (G rows). Prefill: every prompt token through the
  // layers, causal attention over the prompt.
  const double G = double(rl.group_size), groups = double(prompts);
  const double prefill_rows = G * P;
  const double prefill = 2.0 * layer_params * prefill_rows /
                             (dev.achieved_flops(job.bf16, int64_t(prefill_rows)) / share) +
                         layers * 4.0 * hidden * P / 2.0 * prefill_rows / attention_rate;
  // One forward of G rows per image token: GEMMs at G rows unless reading the weights (and the
  // head) from memory takes longer; attention reads the cache (keys and values of every layer).
  const double step_weights = layer_params + head_rows * hidden;
  const double step_gemm =
      std::max(2.0 * step_weights * G / (dev.achieved_flops(job.bf16, rl.group_size) / share),
               step_weights * kF32 / mem_bw);
  double steps = 0;
  for (int64_t t = 0; t < rl.image_tokens; ++t) {
    const double context = P + double(t) + 1.0;
    const double attention = layers * 4.0 * hidden * context * G;
    const double cache_bytes = layers * 2.0 * kv_width * context * G * kF32;
    steps += step_gemm + std::max(attention / attention_rate, cache_bytes / mem_bw);
  }
  // One forward call per image token (the prefill's is the first), each with its fixed cost.
  steps += double(rl.image_tokens) * layers * dev.layer_call_overhead_s * share;
  out.sample_s = groups * (prefill + steps);
  out.kv_cache_bytes = layers * 2.0 * kv_width * double(T) * G * kF32;  // one group's

  // Decoding and scoring: per image, as measured.
  out.decode_s = R * rl.decode_s_per_image * share;
  const double scoring =
      R * rl.reward_s_per_image / double(std::max<int64_t>(1, rl.reward_workers));

  // Log-probabilities of the sampled codes: the reference's (when the KL term is on) and, with
  // several updates per round, the sampling policy's; each one forward per group over its G
  // rollouts (both heads on every position, as in training).
  const double group_tokens = G * double(T);
  const double forward_flops =
      2.0 * (layer_params + double(m.vocab + (m.xomni ? m.mm_vocab : 0)) * hidden) * group_tokens;
  const double forward_s =
      forward_flops / (dev.achieved_flops(job.bf16, int64_t(group_tokens)) / share) +
      layers * 4.0 * hidden * double(T) / 2.0 * group_tokens / attention_rate;
  out.logp_s = groups * double(rl.logp_forwards()) *
               (forward_s + layers * dev.layer_call_overhead_s * share);
  out.reward_wait_s = std::max(0.0, scoring - out.logp_s);  // the workers overlap logp

  out.step_s = out.sample_s + out.decode_s + out.logp_s + out.reward_wait_s + out.update_s;
  out.reference_bytes = double(total_parameters(m)) * kF32;
  // Sampling holds the policy's parameters, optimizer state and the cache; the update its step's
  // memory; the reference lives throughout.
  const MemoryBreakdown& um = out.update.memory;
  const double sampling = um.parameters + um.optimizer + um.runtime + out.kv_cache_bytes;
  out.memory_bytes = std::max(sampling, um.total()) + out.reference_bytes;
  return out;
}

}  // namespace xomni::plan
