// `xomni plan RL_JOB --calibrate`: the policy's own sampling loop, timed, gives the fixed cost per
// layer and forward call that token-by-token sampling pays beyond the FLOP and bandwidth model.
#include <algorithm>
#include <chrono>

#include "lm/lm_components.h"
#include "mm_generation.h"
#include "plan/calibrate.h"
#include "rl/rl_job.h"

namespace xomni::plan {

double calibrate_rl_sampling(const PlanJob& job, const std::string& job_path,
                             const std::vector<std::string>& overrides, DeviceSpec& dev,
                             int repeats) {
  const RlPlan& rl = job.rl;
  XOMNI_CHECK(rl.on && rl.image_tokens > 0, job.source,
              ": calibrating an rl job needs rl.grid (e.g. --set rl.grid=\"8x8\")");
  XOMNI_CHECK(job.model.xomni && job.model.image_vocab > 0, job.source,
              ": the rl calibration samples image codes; the policy must be an xomni backbone "
              "with model.image_vocab_size");
  // The policy as the stage builds it (random weights: the time does not depend on them).
  std::vector<std::string> job_overrides;  // the planner's own inputs are not the job's keys
  for (const std::string& o : overrides)
    if (o.rfind("rl.plan_", 0) != 0) job_overrides.push_back(o);
  const rl::RlJob parsed = rl::parse_rl_job(rl::load_rl_config(job_path, job_overrides));
  const std::unique_ptr<plugins::Backbone> policy = train::make_backbone(parsed.model, 1);
  const cli::MmVocab vocab{job.model.vocab, job.model.image_vocab};
  const int64_t G = rl.group_size, P = rl.prompt_tokens;
  std::vector<int64_t> ids(size_t(G * P));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t((i * 7919) % size_t(vocab.text));
  const Tensor prompts = Tensor::from_vector(ids, {G, P});
  cli::ImageSampling sampling;
  double best = 1e30;
  for (int r = 0; r <= repeats; ++r) {  // the first is a warm-up
    sampling.seed = uint64_t(r);
    const auto t0 = std::chrono::steady_clock::now();
    (void)cli::generate_image_codes(*policy, vocab, prompts, {}, rl.image_tokens, sampling, true);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::min(best, t);
  }
  // What the model says for one group without the fixed cost, on one rank.
  PlanJob one = job;
  one.batch_size = 1;
  DeviceSpec plain = dev;
  plain.layer_call_overhead_s = 0;
  const double modelled = predict_rl_step(one, parallel::Layout{1, 1, 1, 1}, plain).sample_s;
  dev.layer_call_overhead_s =
      std::max(0.0, best - modelled) / (double(rl.image_tokens) * double(job.model.layers));
  return best;
}

}  // namespace xomni::plan
