// Bytes one rank holds at its peak, term by term, as this code stores them: f32 parameters;
// each backward's fresh .grad tensors plus, with more than one data-parallel rank, the
// optimizer's flat gradient buffer (zero_grad drops the .grad tensors, so both exist while the
// optimizer packs); AdamW's two moments (ZeRO-1: a
// 1/n shard of them plus its gradient and parameter shards); the
// activations autograd saves for every micro-batch in flight under 1F1B; the head's logits.
#include <algorithm>
#include <string>

#include "plan/step_model.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::plan {

double MemoryBreakdown::total() const {
  return parameters + gradients + optimizer + activations + logits + comm_buffers + runtime;
}

namespace {
// The largest term by name.
std::pair<const char*, double> largest(const MemoryBreakdown& m) {
  const std::pair<const char*, double> terms[] = {{"parameters", m.parameters},
                                                  {"gradients", m.gradients},
                                                  {"optimizer state", m.optimizer},
                                                  {"activations", m.activations},
                                                  {"logits", m.logits},
                                                  {"communication buffers", m.comm_buffers},
                                                  {"runtime overhead", m.runtime}};
  return *std::max_element(std::begin(terms), std::end(terms),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
}
}  // namespace

std::string MemoryBreakdown::dominant() const {
  return largest(*this).first;
}
double MemoryBreakdown::dominant_bytes() const {
  return largest(*this).second;
}

namespace {

// f32 elements autograd keeps per token of one decoder layer (local shapes under tp): the layer
// input, the attention norm's output, q, k, v, rotated q and k, attention's output and its
// [B, T, H*hd] copy, the post-attention residual, the MLP norm's output, gate, up and their
// product. Under sequence parallelism the residual stream is split over tp but the gathered
// norm outputs the projections save are whole.
double layer_elements_per_token(const PlanModel& m, int tp, bool sp) {
  const double h = double(m.hidden), hd = double(m.hidden / m.heads);
  const double q = double(m.heads / tp) * hd, kv = double(m.kv_heads / tp) * hd;
  const double inter = double(m.intermediate / tp);
  const double residual = sp ? 2.0 * h / tp : 2.0 * h;  // layer input, post-attention sum
  const double normed = 2.0 * h;                        // both norms' outputs
  // Measured on this box (docs/SCALING.md, "Calibration"): peak RSS grows 1.32x faster with the
  // tokens of a micro-batch than these saved tensors alone: one layer's backward transients
  // (gradients of its activations) and the allocator's fragmentation come on top.
  constexpr double kMeasured = 1.32;
  return kMeasured * (residual + normed + 4.0 * q + 3.0 * kv + 3.0 * inter);
}

}  // namespace

MemoryBreakdown predict_memory(const PlanJob& job, const parallel::Layout& l, int stage,
                               const DeviceSpec& dev) {
  const PlanModel& m = job.model;
  const double bytes = double(job.param_bytes);
  const int64_t tp = l.tp, cp = l.cp, dp = l.dp, pp = l.pp;
  const bool first = stage == 0, last = stage == pp - 1;
  const bool sp = job.sequence_parallel && tp > 1;
  MemoryBreakdown mem;
  const int v = job.virtual_stages;
  const int64_t numel = stage_parameters(m, l, stage, v);
  const int64_t n = dp * cp;
  const bool sharded = job.zero1 && n > 1;
  const int64_t padded = sharded ? (numel + n - 1) / n * n : numel;
  mem.parameters = double(numel) * bytes;
  mem.gradients = double(numel + (n > 1 ? padded : 0)) * bytes;  // one rank: no flat buffer
  if (sharded) {
    // Moments, gradient shard, parameter shard; the parameter all-gather lands in the flat
    // gradient buffer (counted above), so no staging window.
    mem.optimizer = 4.0 * double(padded / n) * bytes;
  } else {
    mem.optimizer = 2.0 * double(numel) * bytes;
  }
  // Activations of one micro-batch through one of the rank's v chunks (v = 1: its whole stage).
  const double layers_here = double(stage_layer_count(m, l, stage, v)) / double(v);
  const double B = double(job.batch_size / dp);
  const double T = double(local_seq_len(job, int(cp)));
  const double tokens = B * T;
  const double per_layer = layer_elements_per_token(m, int(tp), sp) * tokens * 4.0;
  const double layer_input = tokens * double(m.hidden) / (sp ? double(tp) : 1.0) * 4.0;
  double micro_bytes = job.recompute ? layers_here * layer_input + per_layer  // + one recomputed
                                     : layers_here * per_layer;
  if (first) micro_bytes += layer_input;                           // the embedding's output
  if (last) micro_bytes += 2.0 * tokens * double(m.hidden) * 4.0;  // final norm in and out
  const int64_t in_flight = activations_in_flight(job, l, stage);
  mem.activations = micro_bytes * double(in_flight);
  if (last) {
    const double vocab_local = double(m.vocab + (m.xomni ? m.mm_vocab : 0)) / double(tp);
    if (job.fused_head_loss && !m.xomni) {
      // The fused head's logits chunk (about 2 MB, linear_cross_entropy_chunk) and its gradient.
      mem.logits = 2.0 * std::min(2.0 * 1024 * 1024, tokens * vocab_local * 4.0);
    } else if (m.xomni) {
      // X-Omni's training logits: both heads' outputs, their concatenation, the image part with
      // its closing bias, each cross-entropy's saved softmax and the gradients back through the
      // concatenation: 7 copies at the peak, measured (docs/SCALING.md, X-Omni at 1 rank).
      mem.logits = 7.0 * tokens * vocab_local * 4.0;
    } else {
      // Logits, their softmax and gradient, for the one micro-batch in the head at a time.
      mem.logits = 3.0 * tokens * vocab_local * 4.0;
    }
  }
  if (pp > 1) {
    // Receive buffers of the activation and its gradient.
    mem.comm_buffers += 2.0 * B * (sp ? T / double(tp) : T) * double(m.hidden) * 4.0;
  }
  mem.runtime = dev.runtime_bytes;
  return mem;
}

}  // namespace xomni::plan
