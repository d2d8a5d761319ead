#pragma once
// Pipeline parallelism, independent of the model: the layer split over stages, the 1F1B schedule
// over micro-batches with point-to-point activation and gradient passing, and the per-rank
// timeline of the schedule (JSONL) with the measured pipeline bubble.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/tensor/tensor.h"
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

// Splits n_layers over `stages` as [begin, end) ranges, stage by stage. `sizes` (from the config)
// must have one entry per stage, each >= 1, summing to n_layers. When `sizes` is empty the split
// is as even as possible: each stage gets n_layers / stages and the r = n_layers % stages extra
// layers go to stages 1..r. Stage 0 is skipped because under 1F1B it holds the most activations
// (p micro-batches) and also runs the embedding; the last stage (head and loss) gets one only when
// r = stages - 1. Throws naming the numbers, prefixed by `where` (e.g. "job.toml [parallel]").
std::vector<std::pair<int64_t, int64_t>> split_layers(int64_t n_layers, int stages,
                                                      const std::vector<int64_t>& sizes,
                                                      const std::string& where);

struct StageFunctions {
  // Forward of micro-batch `micro`: `input` is the activation received from the previous stage
  // (undefined on the first stage), already a leaf that requires grad. Returns the activation to
  // send on (shape activation_shape, dtype activation_dtype), or on the last stage a one-element
  // loss to backpropagate (with gradient 1).
  std::function<Tensor(int64_t micro, const Tensor& input)> forward;
  Shape activation_shape;
  DType activation_dtype = DType::f32;
};

struct TimelineEvent {
  int rank = 0;  // the pp group rank (= the stage for run_1f1b)
  int stage = 0;
  int64_t micro = 0;
  char phase = 'F';           // 'F' forward or 'B' backward
  double start = 0, end = 0;  // seconds since the schedule started (a barrier over the group)
  int64_t step = 0;           // set by the caller (e.g. the training step); run_1f1b leaves it 0
};

// Runs forward and backward of micro-batches 0..m-1 in the 1F1B order over `pp` (stage =
// pp.rank(), stages = pp.size()): a warm-up of min(p-1-s, m) forwards, then one forward and one
// backward in turn, then the remaining backwards. Activations go to stage s+1 and gradients to
// s-1 (tags 1000 and 1001); where a send and a receive cross (steady state) they go through
// Communicator::send_recv. A stage holds at most p - s micro-batches' activations. Gradients
// accumulate in the parameters (the caller zeroes them per step). Returns the last stage's
// per-micro losses (the values forward returned there), broadcast to every pp rank. Appends this
// rank's events to `timeline` when non-null (times measure the stage's own forward/backward
// only, not waiting for messages).
std::vector<double> run_1f1b(Communicator& pp, const StageFunctions& stage, int64_t micro_batches,
                             std::vector<TimelineEvent>* timeline = nullptr);

// The order run_1f1b runs on `stage` of `stages`: (phase, micro) pairs.
std::vector<std::pair<char, int64_t>> one_f_one_b_order(int stage, int stages,
                                                        int64_t micro_batches);

// Appends one JSON object per line (a caller running several pipelines, e.g. under dp or tp, may
// set `rank` to the world rank first so that every rank gets its own row in `xomni timeline`):
// {"rank":0,"stage":0,"micro":3,"phase":"F","start":0.0123,"end":0.0150,"step":0}
void append_timeline_jsonl(const std::string& path, const std::vector<TimelineEvent>& events);
// Reads what append_timeline_jsonl wrote ("step" may be absent: 0); throws naming file and line.
std::vector<TimelineEvent> read_timeline_jsonl(const std::string& path);

// Measured bubble fraction: 1 - (sum of busy time over all events) / (stages x makespan), the
// makespan running from the earliest start to the latest end. For an ideal 1F1B timeline with
// equal forward and backward times per stage this is (p-1)/(m+p-1).
double bubble_fraction(const std::vector<TimelineEvent>& all_ranks_events, int stages);

}  // namespace xomni::parallel
