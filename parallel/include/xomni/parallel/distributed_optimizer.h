#pragma once
// Data parallelism's gradient reduction and AdamW over a data-parallel group, optionally with the
// optimizer state and update sharded over the group (ZeRO-1).
//
// Flat space: the parameters, in order, concatenated into one run of elements (all parameters
// share one dtype, f32 or f64). With ZeRO-1 it is padded to a multiple of dp.size() and rank r
// owns the r-th contiguous chunk, so a parameter may straddle ranks; without it every rank owns
// everything.
//
// A step, on every rank of `dp` in the same order:
//   opt.zero_grad(); loss.backward(); opt.reduce_gradients();
//   norm2 = opt.local_grad_sq(counted) (+ all-reduce over DP when sharded());
//   opt.step(c)  (c: the clip coefficient, 1 when not clipping; the same bits as
//   opt.scale_gradients(c); opt.step(), without a pass that writes the gradients).
// Semantics as torch DDP + torch.optim.AdamW: a parameter that requires a gradient is updated on
// every step (a rank without a gradient for it contributes zeros, and when no rank has one the
// update runs with a zero gradient); frozen parameters (requires_grad off) are skipped and their
// state does not advance. Core AdamW instead skips a parameter without a gradient; the two agree
// whenever every trainable parameter has one.
//
// Overlap (DataParallelOptions::overlap_grad_reduce, dp.size() > 1): the step becomes
//   opt.zero_grad(); opt.expect_backward_passes(m); m backward passes; opt.reduce_gradients(); ...
// A post-accumulate hook on every parameter counts the passes that reach it; at the m-th its
// gradient is final and is packed, and each bucket's non-blocking reduction is posted as soon as
// all its parameters are final and every earlier bucket is posted (the same buckets and order as
// without overlap, so the same bits). reduce_gradients() then packs what never became final (no
// gradient in the last pass, frozen, held), posts the remaining buckets in order and waits.
//
// Parameter gather (ZeRO-1): step() all-gathers the updated parameters window by window
// (non-blocking), directly into the flat gradient buffer, which is free until the next
// reduction. With DataParallelOptions::overlap_param_gather it returns without waiting: each
// trainable parameter's storage is marked pending (Storage::set_pending), and the first access
// to it (the next forward, a checkpoint, anything) waits for just the windows holding it and
// copies it out. Windows are posted in the order the forward pass uses the parameters. Whatever
// is still pending when the next reduction starts packing is finished first. Without overlap,
// step() finishes the whole gather itself; both give the same bits. Pending parameters must be
// first touched on the thread that called step() (MPI is initialised FUNNELED).
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "xomni/core/nn/optim.h"
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

struct DataParallelOptions {
  double bucket_mb = 25.0;             // gradient bucket size for the reduction (MiB)
  bool distributed_optimizer = false;  // ZeRO-1: optimizer state and update sharded over DP
  // Post each bucket's reduction during the step's last backward pass (see above).
  bool overlap_grad_reduce = false;
  // ZeRO-1: wait for each parameter's all-gather when it is first used after step() (above).
  bool overlap_param_gather = false;
};

// AdamW for parameters replicated over a data-parallel group (each rank passes its own local
// parameters: same names, shapes and order on every rank of `dp`; checked at construction with
// one small all-reduce). `dp` must outlive the optimizer. CPU tensors (the MPI backend).
class DistributedOptimizer {
 public:
  DistributedOptimizer(std::vector<NamedParam> params, AdamWOptions adam, Communicator& dp,
                       DataParallelOptions options = {});
  ~DistributedOptimizer();  // removes its gradient hooks
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // Drops every parameter's gradient and the reduced gradients.
  void zero_grad();
  // With overlap (overlapping()): announces, after zero_grad() and before the step's first
  // backward pass, how many backward passes accumulate into this step on this rank (its
  // micro-batches; under 1F1B the stage's backwards). A parameter's gradient counts as final at
  // its m-th pass. m = 0 turns the overlap off for this step. A backward pass reaching a
  // parameter before the announcement, a parameter reached more than m times, or a step whose
  // parameters saw fewer than m passes is an error. Without overlap: checks m >= 0, nothing else.
  void expect_backward_passes(int64_t m);
  // Parameters (one flag each) whose gradients the caller still changes after backward (e.g. sums
  // over tp): they are packed in reduce_gradients(), and so are the buckets holding them.
  void hold_until_reduce(const std::vector<bool>& held);
  bool overlapping() const { return overlap_; }
  // Sums every parameter's gradient over the DP group (a missing gradient counts as zeros):
  // bucketed all-reduce (buckets of about bucket_mb, whole parameters, the last parameters first
  // as backward produces them), after which each parameter's .grad is the summed gradient (a view
  // of this optimizer's buffer). With ZeRO-1 a bucketed reduce-scatter instead, so this rank
  // holds the summed gradient only for the range it owns; .grad is then left as it was. Callers
  // normalise the loss so that a SUM is what they need. With dp.size() == 1 nothing is sent and
  // nothing is copied: the optimizer works on each .grad where backward left it (a missing one
  // becomes zeros), and no flat gradient buffer exists.
  void reduce_gradients();
  // Sum of squared reduced-gradient entries this rank is responsible for (its ZeRO shard, or
  // every element), over parameters whose `counted` flag is set (one flag per parameter);
  // accumulated in double in a fixed order. The caller all-reduces it over the groups that split
  // the elements (DP when sharded(), plus e.g. TP/PP for their parameters).
  double local_grad_sq(const std::vector<bool>& counted) const;
  // Multiplies the reduced gradients by `factor` (gradient clipping).
  void scale_gradients(double factor);
  // AdamW on the owned elements (torch semantics, bitwise the core AdamW kernel) with every
  // gradient read as g * grad_scale (the clip coefficient: bitwise scale_gradients(grad_scale)
  // then step(), but the gradients are left as they are); with ZeRO-1 the updated parameters are
  // then all-gathered (bucketed) so every rank holds all of them, at once or, with
  // overlap_param_gather, as each is first used (see the top of this file).
  // reduce_gradients() must have run since the last step() or zero_grad().
  void step(double grad_scale = 1.0);
  // Waits for every parameter still being gathered and copies it out (a no-op when none is).
  void finish_parameter_gather();
  // Parameters whose all-gather is still pending (for tests and statistics).
  size_t pending_parameters() const;

  void set_lr(double lr) { adam_.lr = lr; }
  double lr() const { return adam_.lr; }
  // Learning-rate multiplier of a group, "decay" or "no_decay" (as AdamW::set_lr_scale).
  void set_lr_scale(const std::string& group, double scale);
  // As AdamW::freeze / unfreeze: requires_grad off (on) for names matching a glob; a pattern that
  // matches nothing is an error. Every rank must make the same calls.
  size_t freeze(const std::vector<std::string>& patterns);
  size_t unfreeze(const std::vector<std::string>& patterns);
  const std::vector<NamedParam>& params() const { return params_; }
  // Whether parameter i is in the weight-decay group (decided from its whole name and shape).
  bool decays(size_t param) const { return decays_.at(param); }

  // ---- checkpoint support ----
  // The optimizer state this rank keeps: one Range per (parameter, flat run of its row-major
  // elements), in flat order; with ZeRO-1 the pieces of this rank's shard, otherwise every
  // parameter whole. Frozen parameters have ranges too (their state just does not advance).
  struct Range {
    size_t param;
    int64_t begin, end;
  };
  const std::vector<Range>& owned_ranges() const { return ranges_; }
  Tensor exp_avg(size_t range) const;  // 1-D copy, end-begin elements, the parameters' dtype
  Tensor exp_avg_sq(size_t range) const;
  void set_moments(size_t range, const Tensor& exp_avg, const Tensor& exp_avg_sq);
  // Per-parameter step counts (kept for every parameter on every rank).
  int64_t param_steps(size_t param) const;
  void set_param_steps(size_t param, int64_t steps);
  int64_t steps() const { return steps_; }  // step() calls so far
  void set_steps(int64_t steps);
  const AdamWOptions& options() const { return adam_; }
  const DataParallelOptions& dp_options() const { return options_; }
  bool sharded() const { return sharded_; }  // ZeRO-1 on and dp.size() > 1

  // ---- layout (for tests and statistics) ----
  int64_t flat_numel() const { return numel_; }        // elements of all parameters
  int64_t padded_numel() const { return padded_; }     // with ZeRO padding (== flat_numel() off)
  int64_t shard_numel() const { return shard_size_; }  // elements this rank owns (padding incl.)
  int64_t param_offset(size_t param) const { return offsets_.at(param); }  // in the flat space
  size_t num_buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    int64_t begin, end;  // flat range (all-reduce) or range within the shard (ZeRO windows)
  };
  Tensor flat_view(const Tensor& buffer, int64_t begin, int64_t end) const;
  // Where flat element f sits in grad_flat_ as the reduction reads it; `run`: how many elements
  // from f on follow it contiguously there. With ZeRO grad_flat_ is window-major (window w's
  // pieces of every rank's chunk, rank 0's first, so each window reduce-scatters in place);
  // otherwise it is the flat space itself.
  int64_t packed_pos(int64_t f, int64_t& run) const;
  // Calls fn(pos, done, run) for the runs that hold `count` elements of flat space from `f` on:
  // element f + done sits at packed position pos, and `run` elements follow it there.
  template <typename Fn>
  void for_each_packed_run(int64_t f, int64_t count, Fn&& fn) const;
  // Copies `count` elements of flat space from `f` on out of `src` (zeros when null).
  void copy_packed(const void* src, int64_t f, int64_t count);
  // The reverse: `count` elements of flat space from `f` on, out of grad_flat_ into `dst`.
  void copy_unpacked(void* dst, int64_t f, int64_t count) const;
  void pack_param(size_t i);
  void pack_gradients();
  void launch_bucket(size_t b);  // posts bucket b's reduction (non-blocking)
  // ---- overlap (distributed_optimizer_overlap.cpp) ----
  void map_buckets();  // param_buckets_ and bucket_params_ (dp.size() > 1)
  void add_gradient_hooks();
  void on_gradient_final(size_t param);  // hook: one more backward pass reached the parameter
  void mark_final(size_t param);         // packs it; posts the buckets that became ready
  void mark_frozen_final();              // once per step, before the first mark_final
  void finish_overlapped_reduction();
  // ---- parameter gather (distributed_optimizer_gather.cpp) ----
  void start_parameter_gather();
  void fill_storage(size_t storage, void* base);  // a pending storage's fill (see the top)
  void abandon_parameter_gather();                // destructor after an error: no waiting
  void check_range(size_t range, const char* what) const;
  void check_gradient(size_t param, const Tensor& g) const;
  // dp.size() == 1: makes every trainable parameter's .grad a contiguous tensor (zeros when
  // missing) and remembers it in own_grads_.
  void adopt_gradients();
  // The reduced gradient of range k: in grad_shard_ / grad_flat_, or the parameter's own .grad.
  char* range_grad(size_t k) const;

  std::vector<NamedParam> params_;
  AdamWOptions adam_;
  Communicator& dp_;
  DataParallelOptions options_;
  bool sharded_ = false;
  DType dtype_ = DType::f32;
  int64_t elem_size_ = 4;

  std::vector<int64_t> offsets_;  // flat offset of each parameter
  std::vector<bool> decays_;
  std::vector<int64_t> param_steps_;
  double lr_scale_[2] = {1.0, 1.0};  // decay, no_decay
  int64_t numel_ = 0, padded_ = 0, shard_begin_ = 0, shard_size_ = 0;

  std::vector<Range> ranges_;
  std::vector<int64_t> range_pos_;  // where each range starts in the state / shard buffers

  bool single_ = false;            // dp.size() == 1: no flat buffer, own_grads_ instead
  std::vector<Tensor> own_grads_;  // single_: each parameter's .grad after reduce_gradients()
  Tensor grad_flat_;               // every parameter's gradient (padded_ elements; packed_pos)
  Tensor grad_shard_;              // ZeRO: the summed gradient of the owned chunk
  Tensor param_shard_;             // ZeRO: the owned chunk of the parameters, for the all-gather
  Tensor exp_avg_, exp_avg_sq_;    // state of the owned elements (shard_size_ or numel_)
  std::vector<Bucket> buckets_;
  int64_t window_ = 0;  // ZeRO: elements per window (the last one may be shorter)
  bool reduced_ = false;

  // Overlap state (see the top of this file).
  bool overlap_ = false;
  std::vector<int64_t> hook_ids_;
  std::vector<std::vector<size_t>> param_buckets_;  // buckets holding elements of each parameter
  std::vector<int64_t> bucket_params_;              // how many parameters each bucket holds
  std::vector<bool> held_;
  int64_t expected_passes_ = -1;         // -1: not announced for this step
  std::vector<int64_t> passes_;          // backward passes that reached each parameter
  std::vector<bool> final_;              // packed for this step
  std::vector<int64_t> bucket_waiting_;  // parameters each bucket still waits for
  size_t next_bucket_ = 0;               // buckets below it are posted
  bool padding_packed_ = false;          // mark_frozen_final ran this step
  std::vector<std::unique_ptr<CommRequest>> inflight_;  // in bucket order
  size_t oldest_ = 0;                                   // inflight_ below it are complete
  int64_t steps_ = 0;

  // Parameter gather state (see the top of this file).
  std::vector<std::unique_ptr<CommRequest>> gathers_;  // per window (buckets_ index), or null
  std::vector<std::vector<size_t>> storage_params_;    // parameters sharing each storage
  std::vector<bool> gathered_;                         // trainable when the gather was posted
  size_t pending_storages_ = 0;
  std::thread::id gather_thread_;
};

}  // namespace xomni::parallel
