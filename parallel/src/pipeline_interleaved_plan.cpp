// The interleaved 1F1B order and its communication steps (facts from Megatron-LM's interleaved
// schedule): which (micro-batch, chunk) each step computes and which messages go with it.
#include <algorithm>

#include "xomni/parallel/pipeline.h"

namespace xomni::parallel {

namespace {

// Which forward (or backward) is k-th in every rank's order.
struct OrderIndex {
  int p, v;
  // k may be negative (a rank looking p-1 steps back); it wraps like Python's modulo.
  int chunk(int64_t k, bool forward) const {
    const int64_t group = int64_t(p) * v;
    const int c = int((((k % group) + group) % group) / p);
    return forward ? c : v - 1 - c;
  }
  int64_t micro(int64_t k) const { return (k / (int64_t(p) * v)) * p + k % p; }
  PipelineOp op(int64_t k, bool forward) const {
    return {forward ? 'F' : 'B', micro(k), chunk(k, forward)};
  }
};

void check_arguments(int stage, int stages, int chunks, int64_t micro_batches, const char* what) {
  XOMNI_CHECK(stages >= 1 && stage >= 0 && stage < stages, what, ": stage ", stage,
              " is not one of ", stages, " stages");
  XOMNI_CHECK(chunks >= 1, what, ": each rank needs at least 1 model chunk, got ", chunks);
  XOMNI_CHECK(micro_batches >= 1, what, ": micro_batches must be >= 1, got ", micro_batches);
  // Micro-batches go through each chunk in groups of p; a partial group would break the order.
  XOMNI_CHECK(chunks == 1 || micro_batches % stages == 0, what, ": the interleaved schedule needs ",
              "the number of micro-batches m to be a multiple of the pipeline size p; got m = ",
              micro_batches, ", p = ", stages, ", v = ", chunks, " virtual stages per rank");
}

}  // namespace

std::vector<PipelineOp> interleaved_order(int stage, int stages, int chunks,
                                          int64_t micro_batches) {
  check_arguments(stage, stages, chunks, micro_batches, "interleaved_order");
  std::vector<PipelineOp> order;
  if (chunks == 1) {
    for (const auto& [phase, micro] : one_f_one_b_order(stage, stages, micro_batches))
      order.push_back({phase, micro, 0});
    return order;
  }
  for (const PipelineStep& step : interleaved_plan(stage, stages, chunks, micro_batches))
    order.insert(order.end(), step.compute.begin(), step.compute.end());
  return order;
}

std::vector<PipelineStep> interleaved_plan(int stage, int stages, int chunks,
                                           int64_t micro_batches) {
  check_arguments(stage, stages, chunks, micro_batches, "interleaved_plan");
  XOMNI_CHECK(chunks >= 2, "interleaved_plan: needs at least 2 model chunks per rank, got ", chunks,
              " (one chunk is plain 1F1B: one_f_one_b_order, run_1f1b)");
  XOMNI_CHECK(stages >= 2, "interleaved_plan: needs at least 2 pipeline ranks, got ", stages);
  const int s = stage, p = stages, v = chunks;
  const OrderIndex at{p, v};
  const int64_t total = micro_batches * v;
  const int64_t warmup = std::min<int64_t>(int64_t(p - s - 1) * 2 + int64_t(v - 1) * p, total);
  const int64_t steady = total - warmup;
  // Virtual stage 0 receives no activation; the last one sends none and receives no gradient.
  const auto first_virtual = [&](int c) { return s == 0 && c == 0; };
  const auto last_virtual = [&](int c) { return s == p - 1 && c == v - 1; };

  std::vector<PipelineStep> plan;
  if (!first_virtual(0)) {
    PipelineStep recv;
    recv.recv_activation_chunk = 0;
    plan.push_back(recv);
  }
  for (int64_t k = 0; k < warmup; ++k) {
    PipelineStep step;
    step.compute.push_back(at.op(k, true));
    step.send_activation = !last_virtual(step.compute[0].chunk);
    const int next = at.chunk(k + 1, true);
    if (k + 1 < total && !first_virtual(next)) step.recv_activation_chunk = next;
    // The last warm-up step also takes the gradient for the first backward (chunk v-1).
    if (k + 1 == warmup && steady > 0 && s != p - 1) step.recv_gradient_chunk = v - 1;
    plan.push_back(step);
  }
  for (int64_t k = 0; k < steady; ++k) {
    const int64_t f = warmup + k;
    PipelineStep step;
    step.compute = {at.op(f, true), at.op(k, false)};
    step.send_activation = !last_virtual(step.compute[0].chunk);
    step.send_gradient = !first_virtual(step.compute[1].chunk);
    if (k + 1 < steady) {
      // Rank 0 receives from rank p-1, which runs p-1 forwards behind it in the same order.
      if (s == 0) {
        const int c = at.chunk(f - (p - 1), true);
        step.recv_activation_chunk = c == v - 1 ? -1 : c + 1;
      } else {
        step.recv_activation_chunk = at.chunk(f + 1, true);
      }
    }
    // Rank p-1 receives from rank 0, p-1 backwards behind it.
    if (s == p - 1) {
      const int c = at.chunk(k - (p - 1), false);
      step.recv_gradient_chunk = c == 0 ? -1 : c - 1;
    } else {
      step.recv_gradient_chunk = at.chunk(k + 1, false);
    }
    plan.push_back(step);
  }
  if (steady == 0 && s != p - 1) {
    PipelineStep recv;
    recv.recv_gradient_chunk = v - 1;
    plan.push_back(recv);
  }
  for (int64_t k = steady; k < total; ++k) {
    PipelineStep step;
    step.compute.push_back(at.op(k, false));
    step.send_gradient = !first_virtual(step.compute[0].chunk);
    const int next = at.chunk(k + 1, false);
    if (k + 1 < total && !last_virtual(next)) step.recv_gradient_chunk = next;
    plan.push_back(step);
  }
  return plan;
}

}  // namespace xomni::parallel
