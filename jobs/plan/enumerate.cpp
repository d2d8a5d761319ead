// Every layout of N devices a job can run with, each with every micro-batch split of the global
// batch, recompute on and off and ZeRO-1 on and off, predicted and ranked.
#include <algorithm>

#include "plan/step_model.h"

namespace xomni::plan {
namespace {

std::vector<int> divisors(int64_t n) {
  std::vector<int> out;
  for (int64_t d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(int(d));
  return out;
}

}  // namespace

std::vector<PlanCandidate> enumerate_plans(const PlanJob& job, const SearchOptions& options,
                                           const DeviceSpec& dev) {
  XOMNI_CHECK(options.devices >= 1, "the device count must be >= 1, got ", options.devices);
  const int64_t global =
      options.global_batch > 0 ? options.global_batch : job.batch_size * job.micro_batches;
  const int n = options.devices;
  const double budget = dev.ranks_share_node
                            ? dev.memory_bytes / double(std::min(n, dev.devices_per_node))
                            : dev.memory_bytes;
  std::vector<PlanCandidate> out;
  for (int tp : divisors(n)) {
    if (tp > dev.devices_per_node) continue;  // tp stays inside a node
    for (int cp : divisors(n / tp)) {
      for (int pp : divisors(n / tp / cp)) {
        if (pp > job.model.layers) continue;
        const int dp = n / tp / cp / pp;
        const parallel::Layout layout{tp, cp, dp, pp};
        // Micro-batch count m: the global batch splits into m micro-batches of batch_size
        // sequences, batch_size a multiple of dp.
        for (int64_t micro : divisors(global)) {
          PlanJob j = job;
          j.micro_batches = micro;
          j.batch_size = global / micro;
          if (!layout_problem(j, layout).empty()) continue;
          for (const bool recompute : {false, true})
            for (const bool zero1 : {false, true}) {
              if (zero1 && dp * cp == 1) continue;  // nothing to shard
              PlanCandidate c;
              c.layout = layout;
              c.job = j;
              c.job.recompute = recompute;
              c.job.zero1 = zero1;
              c.prediction = predict_step(c.job, layout, dev);
              c.fits = c.prediction.memory.total() <= budget;
              out.push_back(std::move(c));
            }
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const PlanCandidate& a, const PlanCandidate& b) {
    if (a.fits != b.fits) return a.fits;
    if (a.fits) return a.prediction.step_s < b.prediction.step_s;
    return a.prediction.memory.total() < b.prediction.memory.total();
  });
  return out;
}

}  // namespace xomni::plan
