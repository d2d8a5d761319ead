// The step's time on a device: each rank's compute (GEMM FLOPs at the device's achieved rate
// plus a memory-bound pass over activations and optimizer state), the 1F1B bubble, and the
// communication of predict_comm priced by an alpha-beta model per collective and link.
#include <algorithm>
#include <cmath>

#include "plan/step_model.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::plan {
namespace {

// Ranks a group spans: a group of `size` ranks `stride` apart stays on one node when its span
// fits in a node (ranks are placed on nodes in order).
bool crosses_nodes(int size, int stride, const DeviceSpec& dev) {
  return int64_t(size) * int64_t(stride) > int64_t(dev.devices_per_node);
}

struct Group {
  int size = 1, stride = 1;
};
Group group_of(const std::string& name, const parallel::Layout& l) {
  if (name == "tp") return {l.tp, 1};
  if (name == "cp") return {l.cp, l.tp};
  if (name == "dp") return {l.dp, l.tp * l.cp};
  if (name == "pp") return {l.pp, l.tp * l.cp * l.dp};
  if (name == "dp+cp") return {l.dp * l.cp, l.tp};
  return {l.world(), 1};
}

// Ring algorithms: all-reduce moves 2(n-1)/n of the buffer over the slowest link in 2(n-1)
// steps; reduce-scatter and all-gather (n-1)/n of the whole in n-1 steps; point to point one
// message; broadcast as a pipelined ring (about the buffer once).
double collective_seconds(const CollectiveBytes& c, const parallel::Layout& l,
                          const DeviceSpec& dev) {
  const Group g = group_of(c.group, l);
  if (g.size <= 1 && c.op != parallel::CommOp::send && c.op != parallel::CommOp::recv) return 0;
  const bool inter = crosses_nodes(g.size, g.stride, dev);
  const double bw = inter ? dev.inter_bw : dev.intra_bw;
  const double alpha = inter ? dev.inter_latency : dev.intra_latency;
  const double n = double(g.size), bytes = double(c.bytes), calls = double(c.calls);
  switch (c.op) {
    case parallel::CommOp::all_reduce:
      return 2.0 * (n - 1) / n * bytes / bw + calls * 2.0 * (n - 1) * alpha;
    case parallel::CommOp::reduce_scatter:
    case parallel::CommOp::all_gather:
      return (n - 1) / n * bytes / bw + calls * (n - 1) * alpha;
    case parallel::CommOp::broadcast:
      return bytes / bw + calls * std::log2(std::max(2.0, n)) * alpha;
    case parallel::CommOp::send:  // a send and its matching receive: priced once, on the send
      return bytes / bw + calls * alpha;
    default:
      return 0;
  }
}

}  // namespace

NodeShare node_share(const parallel::Layout& l, const DeviceSpec& dev) {
  NodeShare out;
  const double on_node = double(std::min(l.world(), dev.devices_per_node));
  if (dev.cores > 0) out.compute = std::max(1.0, on_node / dev.cores);
  out.memory = dev.memory_cores > 0 ? std::max(1.0, on_node / dev.memory_cores) : out.compute;
  return out;
}

StepPrediction predict_step(const PlanJob& job, const parallel::Layout& l, const DeviceSpec& dev) {
  const std::string problem = layout_problem(job, l);
  XOMNI_CHECK(problem.empty(), problem);
  const PlanModel& m = job.model;
  StepPrediction out;
  out.flops = step_flops(job);
  const int world = l.world();
  const NodeShare node = node_share(l, dev);
  const double share = node.compute;
  const int64_t rows = job.batch_size / l.dp * local_seq_len(job, l.cp);  // a micro-batch's
  const double rate = dev.achieved_flops(job.bf16, rows) / share;
  const double mem_bw = dev.memory_bw / node.memory;

  // Per stage: its layers' share of the FLOPs, split over tp x cp x dp ranks; recompute runs the
  // layers' forward (a third of forward + backward) once more.

  const double tokens = double(job.tokens_per_step());
  const double layer_params = double(layer_parameters(m)) / double(m.layers);  // one layer's
  // Per token and layer: the linears' GEMMs, and the causal attention products at their own rate.
  const double layer_gemm_token = 6.0 * layer_params;
  const double layer_attention_token = 12.0 * double(m.hidden * job.seq_len) / 2.0;
  const double attention_rate = dev.achieved_attention_flops(job.bf16) / share;
  const double recompute = job.recompute ? 4.0 / 3.0 : 1.0;
  double worst = 0, worst_memory = -1;
  for (int s = 0; s < l.pp; ++s) {
    const double layers = double(stage_layer_count(m, l, s, job.virtual_stages));
    const double per_rank = tokens / double(l.tp * l.cp * l.dp);
    double f = layers * layer_gemm_token * recompute;
    if (s == l.pp - 1)
      f += 6.0 * double(m.vocab + (m.xomni ? m.mm_vocab : 0)) * double(m.hidden);  // the head
    f *= per_rank;
    const double f_attention = layers * layer_attention_token * recompute * per_rank;
    const MemoryBreakdown mem = predict_memory(job, l, s, dev);
    // Memory-bound passes: activations written and read about three times (forward, backward,
    // elementwise ops), the optimizer's state and gradients read and written once.
    const double passes = 3.0 * mem.activations / double(activations_in_flight(job, l, s)) *
                              double(job.micro_batches * job.virtual_stages) +
                          2.0 * (mem.parameters + mem.gradients + mem.optimizer);
    const double t = f / rate + f_attention / attention_rate + passes / mem_bw;
    if (t > worst) worst = t;
    if (mem.total() > worst_memory) {
      worst_memory = mem.total();
      out.memory = mem;
      out.peak_stage = s;
    }
  }
  const int64_t micro = job.micro_batches;
  out.bubble_fraction = bubble_fraction(l.pp, micro, job.virtual_stages);
  out.compute_s = worst;
  // 1F1B: the slowest stage's busy time stretched by (v*m + p - 1) / (v*m).
  out.bubble_s = worst * double(l.pp - 1) / double(job.virtual_stages * micro);

  // Communication of the peak stage's rank (stage 0 carries the embedding and the most
  // in-flight micro-batches; the last the head: take the larger).
  double comm = 0, dp_reduce = 0, dp_gather = 0;
  for (int s : {0, l.pp - 1}) {
    const parallel::Coord c{0, 0, 0, s};
    const std::vector<CollectiveBytes> list = predict_comm(job, l, c);
    double total = 0, reduce = 0, gather = 0;
    for (const CollectiveBytes& x : list) {
      if (x.op == parallel::CommOp::recv) continue;  // priced with its send
      const double t = collective_seconds(x, l, dev);
      total += t;
      if (x.group != "dp+cp" || x.bytes <= 64) continue;  // small ones: loss sums, norms
      (x.op == parallel::CommOp::all_gather ? gather : reduce) += t;
    }
    if (total >= comm) comm = total, dp_reduce = reduce, dp_gather = gather;
    if (s == 0) out.comm = list;
  }
  // The dp reduction overlaps the last micro-batch's backward, and ZeRO-1's parameter all-gather
  // the first micro-batch's forward, where the code and the device allow it; everything else
  // (tp, cp, pp messages) sits on the critical path.
  double exposed = comm;
  const double per_micro = worst / double(micro);
  if (job.overlap_grad_reduce && dev.overlap_dp)
    exposed -= std::min(dp_reduce, per_micro * 2.0 / 3.0);
  if (job.overlap_param_gather && dev.overlap_dp) exposed -= std::min(dp_gather, per_micro / 3.0);
  out.comm_s = exposed;
  out.step_s = out.compute_s + out.bubble_s + out.comm_s;
  out.tokens_per_s = tokens / out.step_s;
  out.mfu = out.flops / (out.step_s * double(world) *
                         (job.bf16 ? dev.peak_flops : dev.peak_flops_fp32) / share);
  out.comm_share = out.comm_s / out.step_s;
  return out;
}

}  // namespace xomni::plan
