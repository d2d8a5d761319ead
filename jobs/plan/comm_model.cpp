// The bytes each communicator logs (CommStats: all-reduce the buffer, reduce-scatter the input,
// all-gather the output, send/recv each message) in one step of the trainer running the LM
// stage, operation by operation as the code issues them:
//   jobs/lm/lm_stage.cpp      token count and loss summed over dp x cp (f64 x 1 each)
//   plugins/qwen2, xomni      tp: embedding, per layer two column inputs and two row outputs,
//                             the head's column input, the vocab-parallel loss; cp: ring attention
//   parallel/pipeline_*.cpp   pp: one activation and one gradient per micro-batch, the losses
//   jobs/train/trainer.cpp    sequence-parallel norm gradients, the optimizer's reduction and
//                             all-gather, the gradient norm, the peak-RSS maximum, the vote
#include <algorithm>
#include <map>

#include "plan/step_model.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::plan {
namespace {

using parallel::CommOp;

class Log {
 public:
  void add(const std::string& group, CommOp op, int64_t bytes, int64_t calls = 1) {
    if (calls == 0) return;
    Entry& e = entries_[{group, int(op)}];
    e.bytes += bytes * calls;
    e.calls += calls;
  }
  // `calls` operations moving `bytes` together.
  void add_total(const std::string& group, CommOp op, int64_t bytes, int64_t calls) {
    Entry& e = entries_[{group, int(op)}];
    e.bytes += bytes;
    e.calls += calls;
  }
  std::vector<CollectiveBytes> list() const {
    std::vector<CollectiveBytes> out;
    for (const auto& [key, e] : entries_)
      out.push_back({key.first, CommOp(key.second), e.bytes, e.calls});
    return out;
  }

 private:
  struct Entry {
    int64_t bytes = 0, calls = 0;
  };
  std::map<std::pair<std::string, int>, Entry> entries_;
};

constexpr int64_t kF32 = 4, kF64 = 8, kI64 = 8;

}  // namespace

std::vector<CollectiveBytes> predict_comm(const PlanJob& job, const parallel::Layout& l,
                                          const parallel::Coord& coord) {
  const PlanModel& m = job.model;
  const int64_t tp = l.tp, cp = l.cp, pp = l.pp, dp = l.dp;
  const int stage = coord.pp;
  const bool first = stage == 0, last = stage == pp - 1;
  const bool sp = job.sequence_parallel && tp > 1;
  const int64_t v = job.virtual_stages;
  const int64_t layers_here = stage_layer_count(m, l, stage, int(v));
  const int64_t micro = job.micro_batches;
  // One micro-batch on this rank: batch/dp sequences of the cp chunk (padded to 2*cp pieces).
  const int64_t B = job.batch_size / dp;
  const int64_t T = local_seq_len(job, int(cp));
  const int64_t N = B * T;                           // tokens a tp rank sees whole
  const int64_t hidden_bytes = N * m.hidden * kF32;  // [B, T, h] f32, the full sequence
  Log log;

  for (int64_t mb = 0; mb < micro; ++mb) {
    if (tp > 1) {
      // A column input: copy_to_tp (backward all-reduce) or, under sequence parallelism,
      // gather_sequence (forward all-gather, backward reduce-scatter). A row output: the
      // mirror image (forward all-reduce or reduce-scatter, backward nothing or all-gather).
      auto column_input = [&](int64_t times) {
        if (sp) {
          log.add("tp", CommOp::all_gather, hidden_bytes, times);
          log.add("tp", CommOp::reduce_scatter, hidden_bytes, times);
        } else {
          log.add("tp", CommOp::all_reduce, hidden_bytes, times);
        }
      };
      auto row_output = [&](int64_t forwards, int64_t backwards) {
        if (sp) {
          log.add("tp", CommOp::reduce_scatter, hidden_bytes, forwards);
          log.add("tp", CommOp::all_gather, hidden_bytes, backwards);
        } else {
          log.add("tp", CommOp::all_reduce, hidden_bytes, forwards);
        }
      };
      if (first) row_output(1, 1);  // the embedding's sum over vocabulary pieces
      // Per layer: attention's and the MLP's column inputs and row outputs; recompute runs the
      // layer's forward once more in the backward.
      const int64_t forwards = job.recompute ? 2 : 1;
      for (int64_t i = 0; i < layers_here; ++i) {
        if (sp) {
          log.add("tp", CommOp::all_gather, hidden_bytes, 2 * forwards);  // column inputs
          log.add("tp", CommOp::reduce_scatter, hidden_bytes, 2);         // their backward
        } else {
          log.add("tp", CommOp::all_reduce, hidden_bytes, 2);  // column inputs' backward
        }
        row_output(2 * forwards, 2);
      }
      if (last) {
        const int heads = m.xomni ? 2 : 1;
        column_input(job.fused_head_loss && !m.xomni ? 1 : heads);
        if (job.fused_head_loss && !m.xomni) {
          log.add("tp", CommOp::all_reduce, N * kF64);      // row max
          log.add("tp", CommOp::all_reduce, 2 * N * kF64);  // sums and target logits
        } else {
          for (int h = 0; h < heads; ++h) {
            log.add("tp", CommOp::all_reduce, N * kF32);     // row max
            log.add("tp", CommOp::all_reduce, N * kF64, 2);  // sum of exps, target logit
          }
        }
      }
    }
    if (cp > 1) {
      // Ring attention per layer: the forward passes K and V (stacked) and the segment ids
      // cp - 1 times; the backward passes K, V, dK, dV cp - 1 times and dK, dV home once.
      const int64_t kv = B * (m.kv_heads / tp) * T * (m.hidden / m.heads) * kF32;
      const int64_t forwards = job.recompute ? 2 : 1;
      for (const CommOp op : {CommOp::send, CommOp::recv}) {
        log.add("cp", op, 2 * kv, layers_here * forwards * (cp - 1));
        log.add("cp", op, N * kI64, layers_here * forwards * (cp - 1));
        log.add("cp", op, 4 * kv, layers_here * (cp - 1));
        log.add("cp", op, 2 * kv, layers_here);
      }
    }
    if (pp > 1) {
      const int64_t act = B * (sp ? T / tp : T) * m.hidden * kF32;
      // Each of the v chunks passes its activation on and gets its gradient back, except the
      // last virtual stage (last rank, last chunk); each receives, except the first virtual stage.
      log.add("pp", CommOp::send, act, v - (last ? 1 : 0));  // activations out
      log.add("pp", CommOp::recv, act, v - (last ? 1 : 0));  // their gradients back
      log.add("pp", CommOp::recv, act, v - (first ? 1 : 0));
      log.add("pp", CommOp::send, act, v - (first ? 1 : 0));
    }
  }
  if (pp > 1) log.add("pp", CommOp::broadcast, micro * kF64);  // the per-micro losses
  // The step's counted tokens and its loss, summed over the data ranks.
  if (dp * cp > 1) log.add("dp+cp", CommOp::all_reduce, kF64, 2);
  // Sequence parallelism: norm weights saw a chunk of the sequence; their gradients sum over tp.
  if (sp) {
    log.add("tp", CommOp::all_reduce, m.hidden * kF32, 2 * layers_here);
    if (last) log.add("tp", CommOp::all_reduce, m.hidden * kF32, m.xomni ? 2 : 1);
  }
  // The optimizer over dp x cp: all-reduce of the flat gradients, or with ZeRO-1 a
  // reduce-scatter into the padded flat space and an all-gather of the updated parameters.
  const int64_t n = dp * cp;
  const int64_t numel = stage_parameters(m, l, stage, int(v));
  const bool sharded = job.zero1 && n > 1;
  const int64_t bucket = std::max<int64_t>(1, int64_t(job.bucket_mb * 1024.0 * 1024.0 / kF32));
  if (sharded) {
    // Bucketed into windows of the shard; every window moves dp x cp x its length, so the bytes
    // are the padded space once each way whatever the bucket size.
    const int64_t padded = (numel + n - 1) / n * n, shard = padded / n;
    const int64_t window = std::max<int64_t>(1, bucket / n);
    const int64_t windows = (shard + window - 1) / window;
    log.add_total("dp+cp", CommOp::reduce_scatter, padded * kF32, windows);
    log.add_total("dp+cp", CommOp::all_gather, padded * kF32, windows);
  } else if (n > 1) {
    // Buckets close on parameter boundaries (call count approximate), bytes exact.
    log.add_total("dp+cp", CommOp::all_reduce, numel * kF32, (numel + bucket - 1) / bucket);
  }
  // The gradient norm's sum of squares: over dp x cp (ZeRO-1), tp, pp.
  if (sharded) log.add("dp+cp", CommOp::all_reduce, kF64);
  if (tp > 1) log.add("tp", CommOp::all_reduce, kF64);
  if (pp > 1) log.add("pp", CommOp::all_reduce, kF64);
  // After the step, over the world: the peak resident set's and tensor memory's maxima for the
  // metrics (i64 x 2) and the end-of-step vote (stop requested, metrics failed: i32 x 2).
  log.add("world", CommOp::all_reduce, 2 * kI64);
  log.add("world", CommOp::all_reduce, 2 * 4);
  return log.list();
}

}  // namespace xomni::plan
