// DistributedOptimizer's overlapped reduction: gradient hooks count the backward passes that
// reach each parameter, and buckets are posted (non-blocking, in the fixed bucket order) once
// all their parameters are final; reduce_gradients() posts the rest and waits.
#include <algorithm>
#include <exception>

#include "xomni/core/tensor/grad_hooks.h"
#include "xomni/parallel/distributed_optimizer.h"

namespace xomni::parallel {

// Which buckets hold elements of each parameter: its own one without ZeRO (buckets hold whole
// parameters), with ZeRO every window its elements fall in on any rank's chunk (the windows its
// reduction and its all-gather wait for).
void DistributedOptimizer::map_buckets() {
  param_buckets_.assign(params_.size(), {});
  bucket_params_.assign(buckets_.size(), 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    std::vector<size_t>& mine = param_buckets_[i];
    const int64_t begin = offsets_[i], end = begin + params_[i].tensor.numel();
    if (!sharded_) {
      for (size_t k = 0; k < buckets_.size(); ++k)
        if (buckets_[k].begin <= begin && begin < buckets_[k].end) mine.push_back(k);
    } else {
      for (int64_t f = begin; f < end;) {
        const int64_t j = f % shard_size_;
        const size_t w = size_t((shard_size_ - 1 - j) / window_);
        if (std::find(mine.begin(), mine.end(), w) == mine.end()) mine.push_back(w);
        f += std::min(shard_size_ - int64_t(w) * window_ - j, end - f);
      }
    }
    for (size_t k : mine) ++bucket_params_[k];
  }
}

void DistributedOptimizer::add_gradient_hooks() {
  // Frozen parameters too: they may be unfrozen later (a hook never runs while frozen).
  for (size_t i = 0; i < params_.size(); ++i)
    hook_ids_.push_back(
        add_post_accumulate_hook(params_[i].tensor, [this, i] { on_gradient_final(i); }));
}

DistributedOptimizer::~DistributedOptimizer() {
  for (int64_t id : hook_ids_) remove_post_accumulate_hook(id);
  // A gather still pending: the parameters outlive the optimizer, so they get their values, unless
  // an error is unwinding (then no waiting; see abandon_parameter_gather).
  if (pending_storages_ > 0 || !gathers_.empty()) {
    if (std::uncaught_exceptions() == 0) {
      try {
        finish_parameter_gather();
      } catch (...) {
      }
    }
    if (pending_storages_ > 0 || !gathers_.empty()) abandon_parameter_gather();
  }
  // Reductions posted by a step that an error abandoned may still write into our buffers. No
  // waiting here (a peer may never post its part, and the job is ending): unfinished ones keep
  // the buffers alive for the rest of the process.
  bool pending = false;
  for (auto& req : inflight_) {
    try {
      pending = pending || !req->test();
    } catch (...) {
      pending = true;
    }
  }
  if (!pending) return;
  static std::vector<Tensor> orphans;
  orphans.push_back(grad_flat_);
  orphans.push_back(grad_shard_);
  for (auto& req : inflight_) (void)req.release();
}

void DistributedOptimizer::hold_until_reduce(const std::vector<bool>& held) {
  XOMNI_CHECK(held.size() == params_.size(),
              "DistributedOptimizer::hold_until_reduce: ", held.size(), " flags for ",
              params_.size(), " parameters");
  held_ = held;
}

void DistributedOptimizer::expect_backward_passes(int64_t m) {
  XOMNI_CHECK(m >= 0, "DistributedOptimizer::expect_backward_passes: the number of backward ",
              "passes must be >= 0, got ", m);
  if (!overlap_) return;
  XOMNI_CHECK(expected_passes_ < 0,
              "DistributedOptimizer::expect_backward_passes: called twice for one step (",
              expected_passes_, ", then ", m, "); zero_grad() starts the next step");
  expected_passes_ = m;
  if (m == 0) return;
  passes_.assign(params_.size(), 0);
  final_.assign(params_.size(), false);
  bucket_waiting_ = bucket_params_;
  next_bucket_ = 0;
  oldest_ = 0;
  padding_packed_ = false;  // see mark_frozen_final
}

void DistributedOptimizer::mark_frozen_final() {
  // Frozen parameters contribute zeros; held ones wait for reduce_gradients(). Done at the first
  // hook, not when the step is announced: packing waits for a pending parameter gather, which
  // the forward pass in between is meant to hide.
  padding_packed_ = true;
  copy_packed(nullptr, numel_, padded_ - numel_);  // ZeRO padding: part of the first windows
  for (size_t i = 0; i < params_.size(); ++i)
    if (!params_[i].tensor.requires_grad() && !held_[i]) mark_final(i);
}

void DistributedOptimizer::on_gradient_final(size_t i) {
  if (expected_passes_ == 0) return;
  XOMNI_CHECK(
      expected_passes_ > 0, "DistributedOptimizer: a backward pass reached '", params_[i].name,
      "' but this step's number of backward passes was not announced: ",
      "with overlap_grad_reduce on, the stage driver calls expect_backward_passes(m) after ",
      "zero_grad() and before the step's first backward (0 turns the overlap off for the ",
      "step)");
  const int64_t pass = ++passes_[i];
  XOMNI_CHECK(pass <= expected_passes_, "DistributedOptimizer: backward pass ", pass, " reached '",
              params_[i].name, "' but the step announced ", expected_passes_,
              " (expect_backward_passes); its gradient was already being reduced");
  if (pass == expected_passes_ && !held_[i]) mark_final(i);
  // MPI progresses only inside MPI calls: advance the oldest posted buckets now.
  while (oldest_ < inflight_.size() && inflight_[oldest_]->test()) ++oldest_;
}

void DistributedOptimizer::mark_final(size_t i) {
  if (final_[i]) return;
  if (!padding_packed_) {
    mark_frozen_final();
    if (final_[i]) return;  // it was one of them
  }
  final_[i] = true;
  pack_param(i);
  for (size_t k : param_buckets_[i]) --bucket_waiting_[k];
  while (next_bucket_ < buckets_.size() && bucket_waiting_[next_bucket_] == 0)
    launch_bucket(next_bucket_++);
}

void DistributedOptimizer::finish_overlapped_reduction() {
  int64_t most = 0;
  bool trainable = false;
  for (size_t i = 0; i < params_.size(); ++i) {
    most = std::max(most, passes_[i]);
    trainable = trainable || params_[i].tensor.requires_grad();
  }
  XOMNI_CHECK(most == expected_passes_ || !trainable, "DistributedOptimizer: the step announced ",
              expected_passes_, " backward passes (expect_backward_passes) but its parameters ",
              "saw at most ", most, "; the count must match the micro-batches this rank runs");
  // Whatever is not final yet (no gradient in the last pass, held) is final now; the buckets go
  // out in the same order as ever.
  for (size_t i = 0; i < params_.size(); ++i) mark_final(i);
  for (auto& req : inflight_) req->wait();
  inflight_.clear();
}

}  // namespace xomni::parallel
