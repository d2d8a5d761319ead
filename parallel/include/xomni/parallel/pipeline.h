#pragma once
// Pipeline parallelism, independent of the model: the layer split over stages, the 1F1B schedule
// and its interleaved form (virtual stages) over micro-batches with point-to-point activation and
// gradient passing, and the per-rank timeline of the schedule (JSONL) with the measured bubble.
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
// r = stages - 1. Under the interleaved schedule `stages` is the number of virtual stages p*v.
// Throws naming the numbers, prefixed by `where` (e.g. "job.toml [parallel]").
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
  int rank = 0;   // the pp group rank (= the stage for run_1f1b)
  int stage = 0;  // the pp group rank that ran it (the pipeline stage)
  int64_t micro = 0;
  char phase = 'F';           // 'F' forward or 'B' backward
  double start = 0, end = 0;  // seconds since the schedule started (a barrier over the group)
  int64_t step = 0;           // set by the caller (e.g. the training step); run_1f1b leaves it 0
  int chunk = 0;  // the model chunk under the interleaved schedule (virtual stage chunk*p + stage)
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

// One compute of a pipeline rank: forward or backward of micro-batch `micro` on model chunk
// `chunk` (0 for the non-interleaved schedule).
struct PipelineOp {
  char phase = 'F';
  int64_t micro = 0;
  int chunk = 0;
};

// The interleaved 1F1B compute order (Megatron-LM's virtual pipeline stages) on `stage` of
// `stages` ranks holding `chunks` model chunks each; chunk c of rank s is virtual stage c*p + s.
// Forward k (k = 0..m*v-1) is chunk (k/p) % v of micro-batch (k/(p*v))*p + k%p; backward k is the
// same with the chunk reversed. Rank s runs min(2(p-s-1) + (v-1)p, m*v) warm-up forwards, then
// one forward and one backward in turn, then the remaining backwards. micro_batches must be a
// multiple of stages when chunks > 1 (throws naming m, p and v). chunks = 1: one_f_one_b_order.
std::vector<PipelineOp> interleaved_order(int stage, int stages, int chunks, int64_t micro_batches);

// One step of a rank's interleaved schedule: its computes (one forward, one backward, or a
// forward then a backward), then the activation exchange (this step's forward output to the next
// rank, an activation from the previous rank), then the gradient exchange (this step's backward
// input gradient to the previous rank, a gradient from the next rank). The ranks form a ring:
// rank p-1's chunk c feeds rank 0's chunk c+1. A received message is for the chunk named (-1:
// nothing received); messages wait in per-chunk queues until their compute runs.
struct PipelineStep {
  std::vector<PipelineOp> compute;
  bool send_activation = false;  // the output of this step's forward goes on
  int recv_activation_chunk = -1;
  bool send_gradient = false;  // the input gradient of this step's backward goes back
  int recv_gradient_chunk = -1;
};

// The steps run_interleaved_1f1b runs on `stage` for chunks >= 2 and stages >= 2 (its computes
// are interleaved_order's; one chunk is run_1f1b, whose exchanges pair differently). Each
// exchange is one send_recv where it both sends and receives; tests run every rank's plan through
// a rendezvous simulator to show that no rank waits for a message never sent.
std::vector<PipelineStep> interleaved_plan(int stage, int stages, int chunks,
                                           int64_t micro_batches);

// run_1f1b over v = chunks.size() model chunks per rank (interleaved 1F1B, see interleaved_order
// and interleaved_plan): chunk c of this rank is virtual stage c*p + pp.rank(); its forward
// receives the previous virtual stage's activation (undefined on virtual stage 0) and returns the
// next one's input or, on the last virtual stage (rank p-1, chunk v-1), the loss. Tags 1000 + 2c
// (activations) and 1001 + 2c (gradients) name the receiving chunk c. A rank holds at most its
// warm-up count + 1 micro-batches' activations over all chunks. Every chunk's activation_shape and
// dtype must be the same. v = 1 is run_1f1b. With v > 1 the pipeline needs p >= 2 ranks and m a
// multiple of p. Returns the per-micro losses, broadcast from rank p-1.
std::vector<double> run_interleaved_1f1b(Communicator& pp,
                                         const std::vector<StageFunctions>& chunks,
                                         int64_t micro_batches,
                                         std::vector<TimelineEvent>* timeline = nullptr);

// Appends one JSON object per line (a caller running several pipelines, e.g. under dp or tp, may
// set `rank` to the world rank first so that every rank gets its own row in `xomni timeline`):
// {"rank":0,"stage":0,"micro":3,"chunk":0,"phase":"F","start":0.0123,"end":0.0150,"step":0}
void append_timeline_jsonl(const std::string& path, const std::vector<TimelineEvent>& events);
// Reads what append_timeline_jsonl wrote ("step" and "chunk" may be absent: 0); throws naming file
// and line.
std::vector<TimelineEvent> read_timeline_jsonl(const std::string& path);

// Measured bubble fraction: 1 - (sum of busy time over all events) / (stages x makespan), the
// makespan running from the earliest start to the latest end; `stages` is the number of pipeline
// ranks p. For an ideal 1F1B timeline with equal forward and backward times per stage this is
// (p-1)/(m+p-1); for interleaved 1F1B over v chunks per rank, (p-1)/(v*m+p-1).
double bubble_fraction(const std::vector<TimelineEvent>& all_ranks_events, int stages);

}  // namespace xomni::parallel
