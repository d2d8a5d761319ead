// DistributedOptimizer: flat layout, bucketed gradient reduction, sharded AdamW and the
// parameter all-gather.
#include "xomni/parallel/distributed_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "xomni/core/nn/sum_squares.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::parallel {

namespace {

char* byte_ptr(const Tensor& t, int64_t element, int64_t elem_size) {
  return static_cast<char*>(t.raw_data()) + element * elem_size;
}

// Every rank must pass the same parameter list: compare counts and a shape checksum (one small
// all-reduce at construction) so a mismatch fails loudly instead of mixing unrelated elements.
void check_same_layout(Communicator& dp, const std::vector<NamedParam>& params, int64_t numel) {
  double checksum = 0.0;
  for (size_t i = 0; i < params.size(); ++i)
    checksum +=
        double(i + 1) * double(params[i].tensor.numel()) + double(params[i].tensor.dim()) * 7.0;
  const double mine[3] = {double(params.size()), double(numel), checksum};
  Tensor t = Tensor::empty({6}, DType::f64);
  double* d = t.data<double>();
  for (int k = 0; k < 3; ++k) d[k] = mine[k], d[k + 3] = -mine[k];
  dp.all_reduce(t, ReduceOp::max);
  for (int k = 0; k < 3; ++k) {
    XOMNI_CHECK(d[k] == mine[k] && -d[k + 3] == mine[k], "DistributedOptimizer: the ", dp.name(),
                " ranks pass different parameter lists (this rank ", dp.rank(), " has ",
                params.size(), " parameters with ", numel,
                " elements); every data-parallel rank must pass the same names, shapes and order");
  }
}

}  // namespace

DistributedOptimizer::DistributedOptimizer(std::vector<NamedParam> params, AdamWOptions adam,
                                           Communicator& dp, DataParallelOptions options)
    : params_(std::move(params)), adam_(std::move(adam)), dp_(dp), options_(options) {
  check_adamw_options(adam_, "DistributedOptimizer");
  XOMNI_CHECK(options_.bucket_mb > 0, "DistributedOptimizer: bucket_mb must be > 0, got ",
              options_.bucket_mb);
  lr_scale_[0] = adam_.decay_lr_scale;
  lr_scale_[1] = adam_.no_decay_lr_scale;
  std::set<std::string> names;
  offsets_.resize(params_.size());
  decays_.resize(params_.size());
  param_steps_.assign(params_.size(), 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParam& np = params_[i];
    XOMNI_CHECK(!np.name.empty(), "DistributedOptimizer: parameter ", i, " has an empty name");
    XOMNI_CHECK(names.insert(np.name).second, "DistributedOptimizer: duplicate parameter name '",
                np.name, "'");
    XOMNI_CHECK(np.tensor.defined(), "DistributedOptimizer: parameter '", np.name,
                "' is undefined");
    check_dtype(("DistributedOptimizer parameter '" + np.name + "'").c_str(), np.tensor,
                {DType::f32, DType::f64});
    if (i == 0) dtype_ = np.tensor.dtype();
    XOMNI_CHECK(np.tensor.dtype() == dtype_, "DistributedOptimizer: parameter '", np.name, "' is ",
                dtype_name(np.tensor.dtype()), " but '", params_[0].name, "' is ",
                dtype_name(dtype_),
                "; all parameters share one flat buffer and must share a dtype");
    XOMNI_CHECK(np.tensor.is_leaf(), "DistributedOptimizer: parameter '", np.name,
                "' is not a leaf tensor");
    XOMNI_CHECK(np.tensor.is_contiguous(), "DistributedOptimizer: parameter '", np.name,
                "' of shape ", shape_str(np.tensor.shape()), " is not contiguous");
    offsets_[i] = numel_;
    numel_ += np.tensor.numel();
    decays_[i] = adamw_decays(adam_, np.name, np.tensor.shape());
  }
  elem_size_ = int64_t(dtype_size(dtype_));
  const int64_t n = dp_.size();
  sharded_ = options_.distributed_optimizer && n > 1;
  if (n > 1) check_same_layout(dp_, params_, numel_);

  const int64_t bucket_elems =
      std::max<int64_t>(1, int64_t(options_.bucket_mb * 1024.0 * 1024.0 / double(elem_size_)));
  if (!sharded_) {
    padded_ = shard_size_ = numel_;
    shard_begin_ = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      ranges_.push_back({i, 0, params_[i].tensor.numel()});
      range_pos_.push_back(offsets_[i]);
    }
    // Whole parameters, the last ones first (the order backward finishes them); a bucket closes
    // once it holds at least bucket_elems.
    int64_t end = numel_, held = 0;
    for (size_t i = params_.size(); i-- > 0;) {
      held += params_[i].tensor.numel();
      if (held >= bucket_elems) {
        buckets_.push_back({offsets_[i], end});
        end = offsets_[i], held = 0;
      }
    }
    if (end > 0) buckets_.push_back({0, end});
  } else {
    padded_ = (numel_ + n - 1) / n * n;
    shard_size_ = padded_ / n;
    shard_begin_ = dp_.rank() * shard_size_;
    const int64_t shard_end = shard_begin_ + shard_size_;
    for (size_t i = 0; i < params_.size(); ++i) {
      const int64_t lo = std::max(offsets_[i], shard_begin_);
      const int64_t hi = std::min(offsets_[i] + params_[i].tensor.numel(), shard_end);
      if (lo >= hi) continue;
      ranges_.push_back({i, lo - offsets_[i], hi - offsets_[i]});
      range_pos_.push_back(lo - shard_begin_);
    }
    // Windows of the shard, the same on every rank: window [b, e) reduces elements
    // r * shard_size_ + [b, e) of every rank r, so one bucket moves size() * (e - b) elements.
    const int64_t window = std::max<int64_t>(1, bucket_elems / n);
    window_ = window;
    for (int64_t e = shard_size_; e > 0; e -= window)
      buckets_.push_back({std::max<int64_t>(0, e - window), e});
    grad_shard_ = Tensor::zeros({shard_size_}, dtype_);
    param_shard_ = Tensor::zeros({shard_size_}, dtype_);
    // Parameters sharing a storage are made pending, and filled, together.
    std::vector<const Storage*> storages;
    for (size_t i = 0; i < params_.size(); ++i) {
      const Storage* st = params_[i].tensor.impl().storage.get();
      const size_t k = size_t(std::find(storages.begin(), storages.end(), st) - storages.begin());
      if (k == storages.size()) storages.push_back(st), storage_params_.emplace_back();
      storage_params_[k].push_back(i);
    }
  }
  // One rank sums nothing: its gradients stay where backward put them (a flat copy of every
  // gradient cost 3% of a GPT-2-small step and as much memory as the parameters).
  single_ = n == 1;
  if (!single_) grad_flat_ = Tensor::zeros({padded_}, dtype_);
  exp_avg_ = Tensor::zeros({shard_size_}, dtype_);
  exp_avg_sq_ = Tensor::zeros({shard_size_}, dtype_);
  held_.assign(params_.size(), false);
  overlap_ = options_.overlap_grad_reduce && n > 1;
  if (n > 1) map_buckets();
  if (overlap_) add_gradient_hooks();
}

Tensor DistributedOptimizer::flat_view(const Tensor& buffer, int64_t begin, int64_t end) const {
  return make_view(buffer, {end - begin}, {1}, buffer.offset() + begin);
}

void DistributedOptimizer::zero_grad() {
  // Reductions still in flight (a step abandoned by an error) write into our buffers: let them
  // finish first.
  for (auto& req : inflight_) req->wait();
  inflight_.clear();
  for (NamedParam& np : params_) np.tensor.zero_grad();
  own_grads_.clear();  // else the last step's gradients live on beside the next ones
  reduced_ = false;
  expected_passes_ = -1;
}

int64_t DistributedOptimizer::packed_pos(int64_t f, int64_t& run) const {
  if (!sharded_) {
    run = padded_ - f;
    return f;
  }
  const int64_t r = f / shard_size_, j = f % shard_size_;
  const int64_t w = (shard_size_ - 1 - j) / window_;  // windows run from the chunk's end
  const int64_t e = shard_size_ - w * window_, b = std::max<int64_t>(0, e - window_);
  run = e - j;
  return int64_t(dp_.size()) * b + r * (e - b) + (j - b);
}

template <typename Fn>
void DistributedOptimizer::for_each_packed_run(int64_t f, int64_t count, Fn&& fn) const {
  for (int64_t done = 0; done < count;) {
    int64_t run = 0;
    const int64_t pos = packed_pos(f + done, run);
    run = std::min(run, count - done);
    fn(pos, done, run);
    done += run;
  }
}

void DistributedOptimizer::copy_packed(const void* src, int64_t f, int64_t count) {
  // The buffer may still be receiving the last step's parameters: they go out first.
  if (pending_storages_ > 0 || !gathers_.empty()) finish_parameter_gather();
  const char* from = static_cast<const char*>(src);
  for_each_packed_run(f, count, [&](int64_t pos, int64_t done, int64_t run) {
    char* dst = byte_ptr(grad_flat_, pos, elem_size_);
    const size_t bytes = size_t(run * elem_size_);
    if (!from)
      std::memset(dst, 0, bytes);
    else if (from + done * elem_size_ != dst)
      std::memcpy(dst, from + done * elem_size_, bytes);
  });
}

void DistributedOptimizer::copy_unpacked(void* dst, int64_t f, int64_t count) const {
  char* to = static_cast<char*>(dst);
  for_each_packed_run(f, count, [&](int64_t pos, int64_t done, int64_t run) {
    std::memcpy(to + done * elem_size_, byte_ptr(grad_flat_, pos, elem_size_),
                size_t(run * elem_size_));
  });
}

void DistributedOptimizer::check_gradient(size_t param, const Tensor& g) const {
  const NamedParam& np = params_[param];
  XOMNI_CHECK(g.shape() == np.tensor.shape() && g.dtype() == np.tensor.dtype(),
              "DistributedOptimizer: gradient of '", np.name, "' is ", dtype_name(g.dtype()), " ",
              shape_str(g.shape()), ", parameter is ", dtype_name(np.tensor.dtype()), " ",
              shape_str(np.tensor.shape()));
  XOMNI_CHECK(g.device().is_cpu(), "DistributedOptimizer: gradient of '", np.name,
              "' is not in CPU memory");
}

void DistributedOptimizer::pack_param(size_t i) {
  const NamedParam& np = params_[i];
  Tensor g = np.tensor.requires_grad() ? np.tensor.grad() : Tensor();
  if (!g.defined()) {
    copy_packed(nullptr, offsets_[i], np.tensor.numel());
    return;
  }
  check_gradient(i, g);
  if (!g.is_contiguous()) g = g.contiguous();
  copy_packed(g.raw_data(), offsets_[i], np.tensor.numel());
}

void DistributedOptimizer::adopt_gradients() {
  own_grads_.assign(params_.size(), Tensor());
  for (size_t i = 0; i < params_.size(); ++i) {
    NamedParam& np = params_[i];
    if (!np.tensor.requires_grad()) continue;
    Tensor g = np.tensor.grad();
    if (!g.defined()) {
      g = Tensor::zeros(np.tensor.shape(), dtype_);  // updated with a zero gradient, as DDP
    } else {
      check_gradient(i, g);
      if (g.is_contiguous()) {
        own_grads_[i] = g;  // a leaf's .grad is its own (autograd copies shared ones)
        continue;
      }
      g = g.contiguous();
    }
    np.tensor.set_grad(g);
    own_grads_[i] = g;
  }
}

char* DistributedOptimizer::range_grad(size_t k) const {
  if (single_) return byte_ptr(own_grads_[ranges_[k].param], ranges_[k].begin, elem_size_);
  return byte_ptr(sharded_ ? grad_shard_ : grad_flat_, range_pos_[k], elem_size_);
}

void DistributedOptimizer::pack_gradients() {
  for (size_t i = 0; i < params_.size(); ++i) pack_param(i);
  copy_packed(nullptr, numel_, padded_ - numel_);  // ZeRO padding
}

void DistributedOptimizer::launch_bucket(size_t k) {
  const Bucket& b = buckets_[k];
  if (!sharded_) {
    inflight_.push_back(dp_.all_reduce_async(flat_view(grad_flat_, b.begin, b.end)));
    return;
  }
  // Window [b, e) is grad_flat_[n b, n e) in window-major order: rank r's piece at r (e - b).
  const int64_t n = dp_.size();
  inflight_.push_back(dp_.reduce_scatter_async(flat_view(grad_flat_, n * b.begin, n * b.end),
                                               flat_view(grad_shard_, b.begin, b.end)));
}

void DistributedOptimizer::reduce_gradients() {
  NoGradGuard no_grad;
  if (single_) {
    adopt_gradients();
    expected_passes_ = -1;
    reduced_ = true;
    return;
  }
  if (overlap_ && expected_passes_ > 0) {
    finish_overlapped_reduction();
  } else {
    pack_gradients();
    const int64_t n = dp_.size();
    for (size_t k = 0; n > 1 && k < buckets_.size(); ++k) {
      const Bucket& b = buckets_[k];
      if (sharded_)
        dp_.reduce_scatter(flat_view(grad_flat_, n * b.begin, n * b.end),
                           flat_view(grad_shard_, b.begin, b.end));
      else
        dp_.all_reduce(flat_view(grad_flat_, b.begin, b.end));
    }
  }
  expected_passes_ = -1;
  if (!sharded_) {
    // The summed gradient becomes .grad (a view: scale_gradients() reaches it too).
    for (size_t i = 0; i < params_.size(); ++i) {
      NamedParam& np = params_[i];
      if (!np.tensor.requires_grad()) continue;
      np.tensor.set_grad(make_view(grad_flat_, np.tensor.shape(),
                                   contiguous_strides(np.tensor.shape()),
                                   grad_flat_.offset() + offsets_[i]));
    }
  }
  reduced_ = true;
}

double DistributedOptimizer::local_grad_sq(const std::vector<bool>& counted) const {
  XOMNI_CHECK(counted.size() == params_.size(),
              "DistributedOptimizer::local_grad_sq: ", counted.size(), " flags for ",
              params_.size(), " parameters");
  XOMNI_CHECK(reduced_, "DistributedOptimizer::local_grad_sq: call reduce_gradients() first");
  double total = 0.0;
  for (size_t k = 0; k < ranges_.size(); ++k) {
    const Range& r = ranges_[k];
    if (!counted[r.param]) continue;
    // The blocked, threaded kernel clip_grad_norm uses (a serial loop here took 9% of a
    // GPT-2-small step: docs/PERF.md, "Profiling a step").
    if (single_) {
      const Tensor& g = own_grads_[r.param];
      if (g.defined()) total += sum_of_squares(g);  // undefined: frozen
      continue;
    }
    const Tensor& g = sharded_ ? grad_shard_ : grad_flat_;
    total += sum_of_squares(flat_view(g, range_pos_[k], range_pos_[k] + (r.end - r.begin)));
  }
  return total;
}

void DistributedOptimizer::scale_gradients(double factor) {
  XOMNI_CHECK(reduced_, "DistributedOptimizer::scale_gradients: call reduce_gradients() first");
  if (!single_) {
    scale_in_place(sharded_ ? grad_shard_ : grad_flat_, factor);  // as clip_grad_norm
    return;
  }
  for (const Tensor& g : own_grads_)
    if (g.defined()) scale_in_place(g, factor);
}

void DistributedOptimizer::step(double grad_scale) {
  XOMNI_CHECK(reduced_,
              "DistributedOptimizer::step: call reduce_gradients() first (after "
              "backward, on every data-parallel rank)");
  NoGradGuard no_grad;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].tensor.requires_grad()) ++param_steps_[i];
  for (size_t k = 0; k < ranges_.size(); ++k) {
    const Range& r = ranges_[k];
    const NamedParam& np = params_[r.param];
    if (!np.tensor.requires_grad() || r.end == r.begin) continue;
    const int64_t pos = range_pos_[k];
    const bool decay = decays_[r.param];
    adamw_update_elements(np.tensor.device(), dtype_, byte_ptr(np.tensor, r.begin, elem_size_),
                          range_grad(k), byte_ptr(exp_avg_, pos, elem_size_),
                          byte_ptr(exp_avg_sq_, pos, elem_size_), r.end - r.begin, adam_,
                          adam_.lr * lr_scale_[decay ? 0 : 1], decay ? adam_.weight_decay : 0.0,
                          param_steps_[r.param], grad_scale);
  }
  own_grads_.clear();
  if (sharded_) {
    start_parameter_gather();
    if (!options_.overlap_param_gather) finish_parameter_gather();
  }
  reduced_ = false;
}

void DistributedOptimizer::set_lr_scale(const std::string& group, double scale) {
  XOMNI_CHECK(scale >= 0, "DistributedOptimizer::set_lr_scale: scale must be >= 0, got ", scale);
  XOMNI_CHECK(group == "decay" || group == "no_decay",
              "DistributedOptimizer::set_lr_scale: no "
              "group '",
              group, "' (groups are 'decay' and 'no_decay')");
  lr_scale_[group == "decay" ? 0 : 1] = scale;
}

size_t DistributedOptimizer::freeze(const std::vector<std::string>& patterns) {
  return set_frozen_by_glob(params_, patterns, true, "DistributedOptimizer::freeze");
}
size_t DistributedOptimizer::unfreeze(const std::vector<std::string>& patterns) {
  return set_frozen_by_glob(params_, patterns, false, "DistributedOptimizer::unfreeze");
}

void DistributedOptimizer::check_range(size_t range, const char* what) const {
  XOMNI_CHECK(range < ranges_.size(), "DistributedOptimizer::", what, ": range ", range,
              " out of bounds (this rank owns ", ranges_.size(), " ranges)");
}

Tensor DistributedOptimizer::exp_avg(size_t range) const {
  check_range(range, "exp_avg");
  const Range& r = ranges_[range];
  return flat_view(exp_avg_, range_pos_[range], range_pos_[range] + r.end - r.begin).clone();
}

Tensor DistributedOptimizer::exp_avg_sq(size_t range) const {
  check_range(range, "exp_avg_sq");
  const Range& r = ranges_[range];
  return flat_view(exp_avg_sq_, range_pos_[range], range_pos_[range] + r.end - r.begin).clone();
}

void DistributedOptimizer::set_moments(size_t range, const Tensor& m, const Tensor& v) {
  check_range(range, "set_moments");
  const Range& r = ranges_[range];
  const int64_t len = r.end - r.begin;
  const std::string& name = params_[r.param].name;
  for (const Tensor* t : {&m, &v}) {
    XOMNI_CHECK(t->defined() && t->numel() == len, "DistributedOptimizer::set_moments: range ",
                range, " of '", name, "' [", r.begin, ", ", r.end, ") needs ", len,
                " elements, got ", t->defined() ? shape_str(t->shape()) : "an undefined tensor");
  }
  NoGradGuard no_grad;
  const int64_t pos = range_pos_[range];
  flat_view(exp_avg_, pos, pos + len).copy_(reshape(m.detach().contiguous(), {len}));
  flat_view(exp_avg_sq_, pos, pos + len).copy_(reshape(v.detach().contiguous(), {len}));
}

int64_t DistributedOptimizer::param_steps(size_t param) const {
  XOMNI_CHECK(param < params_.size(), "DistributedOptimizer::param_steps: parameter ", param,
              " out of bounds (", params_.size(), " parameters)");
  return param_steps_[param];
}

void DistributedOptimizer::set_param_steps(size_t param, int64_t steps) {
  XOMNI_CHECK(param < params_.size(), "DistributedOptimizer::set_param_steps: parameter ", param,
              " out of bounds (", params_.size(), " parameters)");
  XOMNI_CHECK(steps >= 0, "DistributedOptimizer::set_param_steps: steps must be >= 0, got ", steps);
  param_steps_[param] = steps;
}

void DistributedOptimizer::set_steps(int64_t steps) {
  XOMNI_CHECK(steps >= 0, "DistributedOptimizer::set_steps: steps must be >= 0, got ", steps);
  steps_ = steps;
}

}  // namespace xomni::parallel
