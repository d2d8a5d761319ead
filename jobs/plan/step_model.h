#pragma once
// A performance and memory model of one training step of the LM stage (Qwen2 and X-Omni
// backbones) under a parallel layout: what each rank holds, how long the step takes on a device,
// and how many bytes each communicator logs. `xomni plan` enumerates layouts with it;
// `xomni report scaling` puts its predictions next to measured runs. docs/SCALING.md.
#include <cstdint>
#include <string>
#include <vector>

#include "xomni/parallel/comm.h"
#include "xomni/parallel/topology.h"

namespace xomni::plan {

// The model sizes the step depends on ([model] of a job file).
struct PlanModel {
  int64_t layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, vocab = 0;
  bool tie_embeddings = false;
  // X-Omni (model.backbone = "xomni"): a second embedding, norm and head of mm_vocab rows; the
  // vision layers are decoder layers counted in `layers` (adap first, head last).
  bool xomni = false;
  int64_t mm_vocab = 0, mm_adap_layers = 0, mm_head_layers = 0;
  int64_t image_vocab = 0;  // the image codes among mm_vocab (model.image_vocab_size)
};

// The GRPO stage's round ([run] stage = "rl", docs/RL.md): what the RL step model needs beyond
// the policy. Decoding and scoring run code the planner does not model by FLOPs (the flow
// decoder, reward plugins): their cost per image is an input, measured on a short run
// (scripts/plan_validate_rl.sh shows how).
struct RlPlan {
  bool on = false;
  int64_t group_size = 8;      // rl.group_size: rollouts per prompt
  int64_t image_tokens = 0;    // h x w of rl.grid
  int64_t prompt_tokens = 24;  // rl.plan_prompt_tokens: prompt + "<SOM>h w<IMAGE>" (tiny world: 23)
  int64_t updates_per_batch = 1;  // rl.updates_per_batch
  int64_t reward_workers = 1;     // rl.reward_workers (0: threads in the trainer, counted as 1)
  double decode_s_per_image = 0;  // rl.plan_decode_s_per_image: the decoder, one rank
  double reward_s_per_image = 0;  // rl.plan_reward_s_per_image: every reward, one worker
  bool kl = true;                 // rl.kl_weight > 0: the reference's log-probabilities
  int64_t rollout_len() const { return prompt_tokens + image_tokens + 1; }  // + <EOM>
  // Forwards per group for log-probabilities: the reference's, and the sampling policy's when a
  // round takes several updates.
  int64_t logp_forwards() const { return (kl ? 1 : 0) + (updates_per_batch > 1 ? 1 : 0); }
};

// One job as the model sees it: the model, the step's shape and the knobs a layout search varies.
struct PlanJob {
  PlanModel model;
  int64_t seq_len = 0;
  int64_t batch_size = 0;     // sequences per micro-batch summed over dp (train.batch_size)
  int64_t micro_batches = 1;  // micro-batches per step (train.grad_accum)
  int virtual_stages = 1;     // interleaved 1F1B chunks per rank (bubble only)
  bool recompute = false;     // model.checkpoint_layers
  bool zero1 = false;         // parallel.distributed_optimizer
  bool sequence_parallel = false;
  bool fused_head_loss = true;
  double bucket_mb = 25;
  // parallel.overlap_grad_reduce: the dp reduction runs during the last backward pass; the time
  // model hides it behind that pass where the device can.
  bool overlap_grad_reduce = true;
  // parallel.overlap_param_gather (ZeRO-1): the parameter all-gather is waited for during the next
  // step's first forward pass; the time model hides it behind that pass where the device can.
  bool overlap_param_gather = true;
  bool bf16 = false;        // train.precision = "bf16" (GEMM inputs rounded; storage stays f32)
  int64_t param_bytes = 4;  // storage of parameters, gradients and optimizer state (f32)
  std::string source;       // for messages
  RlPlan rl;                // the GRPO stage's round (rl.on) instead of a training step
  int64_t tokens_per_step() const { return batch_size * seq_len * micro_batches; }
};

// Parses [model], [train] and [parallel] of a job file's text after `overrides`
// ("section.key=value", as `xomni train --set`). `where` names it in messages. Throws naming the
// key when a dimension is missing or not a positive integer.
PlanJob plan_job_from_toml(const std::string& text, const std::string& where,
                           const std::vector<std::string>& overrides = {});
// "tp=2,cp=1,pp=2" (any subset, dp filled from `devices`) as a layout of `devices` ranks.
parallel::Layout parse_layout(const std::string& text, int devices);

// The checks `xomni train` makes before building the model (parallel::check_model_fits plus
// X-Omni's mm_vocab split, cp and batch divisibility); empty when the layout is valid, otherwise
// why not.
std::string layout_problem(const PlanJob& job, const parallel::Layout& layout);

// A device and its links. Achieved rates are spec-sheet rates times stated fractions.
struct DeviceSpec {
  std::string name;
  double peak_flops = 0;       // spec-sheet dense bf16 matmul FLOP/s (MFU's denominator)
  double peak_flops_fp32 = 0;  // the same for fp32 (tf32 on NVIDIA) matmuls
  double achievable = 1;       // fraction of the peak the step's GEMMs reach
  // Fraction of the fp32 peak the attention products reach (the CPU kernel computes in f32 in
  // either precision); 0: they run at the GEMMs' rate (GPUs).
  double attention_achievable = 0;
  double memory_bytes = 0;  // device memory (ranks_share_node: the node's, shared)
  double memory_bw = 0;     // bytes/s for the step's elementwise and optimizer passes
  int devices_per_node = 1;
  double intra_bw = 0, intra_latency = 0;  // bytes/s per direction, seconds per message
  double inter_bw = 0, inter_latency = 0;
  double runtime_bytes = 0;       // fixed per-rank overhead (CUDA context / process baseline)
  bool ranks_share_node = false;  // CPU: the node's memory is split over its ranks
  // CPU: a node's compute in cores' worth: each rank runs one thread (OMP_NUM_THREADS=1), the
  // rates above are one rank's alone, and ranks beyond `cores` share (calibrated: the GEMM
  // throughput of all ranks at once over one rank's alone). 0: one device per rank.
  double cores = 0;
  // The dp gradient reduction can overlap the backward, and ZeRO-1's parameter all-gather the
  // next forward (NCCL streams; MPI's non-blocking collectives progressed from the gradient
  // hooks and the parameters' first use).
  bool overlap_dp = true;
  // CPU calibration: the fp32 GEMM mix's fraction of the peak at several micro-batch row counts
  // per rank, ascending (a rank's GEMMs are slower on fewer rows: dp, pp micro-batches and cp
  // all shrink them). Empty: `achievable` at any size.
  std::vector<std::pair<int64_t, double>> achievable_by_rows;
  // CPU: the node's memory bandwidth in ranks' worth (every rank's elementwise pass at once over
  // one rank's alone). 0: shared as `cores` says.
  double memory_cores = 0;
  // Fixed seconds per decoder layer and forward call beyond its FLOPs and bytes (op dispatch,
  // small tensors): what bounds a small model's token-by-token sampling on a CPU. Calibrated from
  // the policy's own sampling loop (`xomni plan RL_JOB --calibrate`); 0: not modelled.
  double layer_call_overhead_s = 0;
  std::string provenance;  // where the numbers come from
  // GEMM FLOP/s of one rank whose micro-batch has `rows` rows (0: the job's own size).
  double achieved_flops(bool bf16, int64_t rows = 0) const;
  double achieved_attention_flops(bool bf16) const;
};

// "h100", "h200", "cpu"; throws naming the known ones otherwise.
DeviceSpec device_spec(const std::string& name);
// A device TOML written by `xomni plan --calibrate` (or by hand): [device] keys as above.
DeviceSpec read_device_file(const std::string& path);
std::string device_toml(const DeviceSpec& d);

// Parameter counts (elements).
int64_t total_parameters(const PlanModel& m);
// The decoder layers' parameters, all layers together (no embeddings, norms or heads).
int64_t layer_parameters(const PlanModel& m);
// Elements one rank holds: its pipeline stage's layers (parallel::split_layers' even split), the
// embeddings on stage 0, norm and head on the last, tp pieces of every sharded weight.
// With v virtual stages (interleaved 1F1B) the layers are split over pp*v and pipeline rank
// `stage` holds virtual stages stage, stage+pp, ...: its layer count is their sum.
int64_t stage_parameters(const PlanModel& m, const parallel::Layout& layout, int stage,
                         int virtual_stages = 1);
int64_t stage_layer_count(const PlanModel& m, const parallel::Layout& layout, int stage,
                          int virtual_stages = 1);
// Tokens of one sequence a context-parallel rank holds: the whole sequence without cp, else its
// share of the zigzag-padded length (parallel::zigzag_padded_length), as the trainer splits it.
int64_t local_seq_len(const PlanJob& job, int cp);
// Micro-batches whose activations pipeline rank `stage` holds at its peak: 1F1B min(p - s, m)
// (1 without a pipeline); interleaved, in (micro-batch, chunk) pairs, its warm-up forwards + 1,
// min(2(p-s-1) + (v-1)p + 1, m v), each holding one chunk's layers.
int64_t activations_in_flight(const PlanJob& job, const parallel::Layout& layout, int stage);
// Forward + backward FLOPs of one step (6 per parameter per token plus causal attention), as
// the trainer's flops_per_step counts them; recompute adds one more forward of the layers.
double step_flops(const PlanJob& job);

// Bytes one rank holds at its peak, by what holds them.
struct MemoryBreakdown {
  double parameters = 0;
  double gradients = 0;     // .grad of every parameter plus the optimizer's flat buffer
  double optimizer = 0;     // AdamW moments (and ZeRO-1's shard buffers)
  double activations = 0;   // saved for backward, all micro-batches in flight
  double logits = 0;        // the head's logits (or the fused head's chunk) and their gradient
  double comm_buffers = 0;  // pipeline messages
  double runtime = 0;       // the device's fixed overhead
  double total() const;
  std::string dominant() const;   // name of the largest term
  double dominant_bytes() const;  // and its size
};

// Bytes and calls a communicator logs in one step (CommStats), by group and operation.
struct CollectiveBytes {
  std::string group;  // "tp", "cp", "dp", "pp", "dp+cp", "world"
  parallel::CommOp op = parallel::CommOp::all_reduce;
  int64_t bytes = 0;
  int64_t calls = 0;
};

struct StepPrediction {
  MemoryBreakdown memory;  // the fullest rank (pipeline stage 0 unless the head dominates)
  int peak_stage = 0;
  double flops = 0;      // whole step, every rank
  double compute_s = 0;  // per rank, the pipeline's busy time
  double bubble_s = 0;
  double comm_s = 0;  // exposed (not overlapped) communication
  double step_s = 0;
  double tokens_per_s = 0;
  double mfu = 0;  // flops / (step_s x devices x peak)
  double bubble_fraction = 0;
  double comm_share = 0;              // comm_s / step_s
  std::vector<CollectiveBytes> comm;  // pipeline stage 0, tp/cp/dp rank 0
};

// 1F1B's idle fraction (p-1)/(v*m+p-1).
double bubble_fraction(int pp, int64_t micro_batches, int virtual_stages = 1);

// What rank `coord` of `layout` logs in one training step of the trainer (LM stage), exactly.
std::vector<CollectiveBytes> predict_comm(const PlanJob& job, const parallel::Layout& layout,
                                          const parallel::Coord& coord);
MemoryBreakdown predict_memory(const PlanJob& job, const parallel::Layout& layout, int stage,
                               const DeviceSpec& dev);
StepPrediction predict_step(const PlanJob& job, const parallel::Layout& layout,
                            const DeviceSpec& dev);

// A GRPO round on one layout (tp = cp = pp = 1: rollouts sample whole rows on one rank), per
// data-parallel rank, in the stage's own phases (its time_*_s metrics):
//   sample   - one prompt's group at a time: prefill, then one forward of G rows per image
//              token with the KV cache: its GEMMs at G rows, or the weights' read from memory
//              where that is slower, plus attention over the cache;
//   decode   - decode_s_per_image per image;
//   logp     - the reference's forward over every rollout (and the sampling policy's with
//              several updates per round);
//   reward   - what scoring (reward workers, overlapping logp) leaves exposed;
//   update   - updates_per_batch LM-stage steps over the rollouts (predict_step).
struct RlStepPrediction {
  int64_t rollouts_per_rank = 0;
  double sample_s = 0, decode_s = 0, logp_s = 0, reward_wait_s = 0, update_s = 0, step_s = 0;
  StepPrediction update;       // one update step: its memory, communication and MFU
  double kv_cache_bytes = 0;   // one group's keys and values at full length
  double reference_bytes = 0;  // the frozen reference's parameters
  double memory_bytes = 0;     // the peak: max(sampling, update) plus the reference
};
RlStepPrediction predict_rl_step(const PlanJob& job, const parallel::Layout& layout,
                                 const DeviceSpec& dev);
// How much one rank's compute and memory bandwidth shrink when the layout puts more ranks on a
// CPU node than it has cores (`cores`) or memory bandwidth (`memory_cores`, else as the cores):
// the device's rates are divided by these. 1 on devices of one rank each.
struct NodeShare {
  double compute = 1, memory = 1;
};
NodeShare node_share(const parallel::Layout& layout, const DeviceSpec& dev);
// The LM-stage step a round's update is: every rollout of the round as one micro-batch.
PlanJob rl_update_job(const PlanJob& job);

// One candidate of a layout search.
struct PlanCandidate {
  parallel::Layout layout;
  PlanJob job;  // with its micro-batch count, recompute and ZeRO-1
  StepPrediction prediction;
  bool fits = false;
};
struct SearchOptions {
  int devices = 1;
  int64_t global_batch = 0;  // sequences per step; 0: the job's batch_size x micro_batches
};
// Every valid layout x micro-batch split x recompute x ZeRO-1, fitting or not, fastest first
// among those that fit (the others after, smallest memory first).
std::vector<PlanCandidate> enumerate_plans(const PlanJob& job, const SearchOptions& options,
                                           const DeviceSpec& dev);

}  // namespace xomni::plan
