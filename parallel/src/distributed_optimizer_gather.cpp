// DistributedOptimizer's parameter all-gather under ZeRO-1: every window of the updated shards is
// posted at the end of step(), straight into the flat gradient buffer (window-major, as the
// reduction packs it); each trainable parameter's storage is marked pending and, when first
// touched, waits for the windows holding the parameter and copies it out.
#include <cstring>
#include <exception>

#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/profiler.h"
#include "xomni/parallel/distributed_optimizer.h"

namespace xomni::parallel {

namespace {
Storage& storage_of(const Tensor& t) {
  return *t.impl().storage;
}
}  // namespace

void DistributedOptimizer::start_parameter_gather() {
  NoGradGuard no_grad;
  // The owned pieces into the shard buffer (its padding stays zero).
  for (size_t k = 0; k < ranges_.size(); ++k) {
    const Range& r = ranges_[k];
    std::memcpy(static_cast<char*>(param_shard_.raw_data()) + range_pos_[k] * elem_size_,
                static_cast<const char*>(params_[r.param].tensor.raw_data()) + r.begin * elem_size_,
                size_t((r.end - r.begin) * elem_size_));
  }
  // Window [b, e) of every rank lands at [n b, n e), rank r's piece at n b + r (e - b): the
  // layout the reduction packs, so all-gather writes it with no staging copy. Windows run from the
  // chunk's end (buckets_[0] is the last): the forward pass needs the first ones first.
  const int64_t n = dp_.size();
  gathers_.clear();
  gathers_.resize(buckets_.size());
  for (size_t k = buckets_.size(); k-- > 0;) {
    const Bucket& b = buckets_[k];
    gathers_[k] = dp_.all_gather_async(flat_view(param_shard_, b.begin, b.end),
                                       flat_view(grad_flat_, n * b.begin, n * b.end));
  }
  gathered_.assign(params_.size(), false);
  gather_thread_ = std::this_thread::get_id();
  for (size_t s = 0; s < storage_params_.size(); ++s) {
    bool any = false;
    for (size_t i : storage_params_[s]) {
      gathered_[i] = params_[i].tensor.requires_grad();  // frozen ones are the same everywhere
      any = any || gathered_[i];
    }
    if (!any) continue;
    storage_of(params_[storage_params_[s].front()].tensor).set_pending([this, s](void* base) {
      fill_storage(s, base);
    });
    ++pending_storages_;
  }
}

void DistributedOptimizer::fill_storage(size_t s, void* base) {
  XOMNI_CHECK(std::this_thread::get_id() == gather_thread_, "DistributedOptimizer: parameter '",
              params_[storage_params_[s].front()].name,
              "' was first touched after step() on another thread than the one that ran it; its "
              "all-gather can only be waited for there (MPI_THREAD_FUNNELED). Touch parameters "
              "on the training thread first, or set parallel.overlap_param_gather = false");
  profiler::Scope scope("param_gather");  // self time: waiting for this parameter's windows
  // MPI progresses only inside MPI calls: advance everything posted, then wait for ours.
  for (auto& req : gathers_)
    if (req) req->test();
  for (size_t i : storage_params_[s])
    if (gathered_[i])
      for (size_t w : param_buckets_[i]) gathers_[w]->wait();
  profiler::Scope copy("param_unpack");  // the copy out of the flat buffer: not communication
  for (size_t i : storage_params_[s]) {
    if (!gathered_[i]) continue;
    const Tensor& p = params_[i].tensor;
    copy_unpacked(static_cast<char*>(base) + p.offset() * elem_size_, offsets_[i], p.numel());
  }
  --pending_storages_;
}

void DistributedOptimizer::finish_parameter_gather() {
  for (size_t s = 0; s < storage_params_.size() && pending_storages_ > 0; ++s)
    storage_of(params_[storage_params_[s].front()].tensor).resolve();
  XOMNI_CHECK(pending_storages_ == 0, "DistributedOptimizer: ", pending_storages_,
              " parameter storages still wait for their all-gather after finishing it");
  for (auto& req : gathers_)
    if (req) req->wait();  // windows no parameter needed (padding) complete too
  gathers_.clear();
}

size_t DistributedOptimizer::pending_parameters() const {
  size_t count = 0;
  for (const std::vector<size_t>& group : storage_params_)
    if (storage_of(params_[group.front()].tensor).pending())
      for (size_t i : group) count += gathered_[i] ? 1 : 0;
  return count;
}

void DistributedOptimizer::abandon_parameter_gather() {
  // The job is ending with an error: nothing waits any more (a peer may never post its part).
  // The parameters keep their pre-step values; unfinished windows keep the buffers alive.
  for (const std::vector<size_t>& group : storage_params_)
    storage_of(params_[group.front()].tensor).set_pending(nullptr);
  pending_storages_ = 0;
  bool unfinished = false;
  for (auto& req : gathers_) {
    try {
      unfinished = unfinished || (req && !req->test());
    } catch (...) {
      unfinished = true;
    }
  }
  if (unfinished) {
    static std::vector<Tensor> orphans;
    orphans.push_back(grad_flat_);
    orphans.push_back(param_shard_);
    for (auto& req : gathers_) (void)req.release();
  }
  gathers_.clear();
}

}  // namespace xomni::parallel
