#include "xomni/core/tensor/autograd.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "grad_hooks_registry.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/profiler.h"

namespace xomni {
namespace {
thread_local bool g_grad_enabled = true;

// Adds `g` into the gradient slot `slot`. Sums are out of place, so a slot may share storage
// with a gradient someone else holds, except a leaf's .grad (`private_copy`), which users and
// optimizers may modify in place.
void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g, const TensorImpl& owner,
                const char* where, bool private_copy) {
  XOMNI_CHECK(g.shape() == owner.shape, "backward: gradient of shape ", shape_str(g.shape()),
              " for a tensor of shape ", shape_str(owner.shape), " (", where, ")");
  Tensor gc = g.dtype() == owner.dtype ? g : g.to(owner.dtype);
  if (slot) {
    slot = add(Tensor(slot), gc).impl_ptr();
    return;
  }
  const bool exclusive = gc.impl().storage.use_count() == 1 && gc.is_contiguous() &&
                         gc.offset() == 0 && gc.impl_ptr().use_count() <= 2;
  slot = (!private_copy || exclusive ? gc : gc.clone()).impl_ptr();
}

// The outermost backward pass on this thread: which hooked leaves it has fired, and those that
// nested (recomputation) passes finished, which fire when the outermost pass ends.
struct HookPass {
  std::unordered_set<const TensorImpl*> fired;
  std::unordered_set<const TensorImpl*> deferred_set;
  std::vector<std::shared_ptr<TensorImpl>> deferred;  // in the order they were finished
};
thread_local HookPass* g_outer_pass = nullptr;

// Contributions each hooked leaf still expects in one pass (grad_hooks.h). Only leaves with
// hooks are counted, and nothing at all while no hook is registered.
class LeafCounts {
 public:
  LeafCounts(HookPass& pass, bool outermost)
      : pass_(pass), outermost_(outermost), on_(detail::any_post_accumulate_hooks()) {}
  void expect(const TensorImpl& leaf) {
    if (on_ && detail::has_post_accumulate_hooks(&leaf)) ++pending_[&leaf];
  }
  // One expected contribution to `leaf` has been accumulated (or turned out to be empty).
  void done(const Tensor& leaf) {
    if (pending_.empty()) return;
    auto it = pending_.find(&leaf.impl());
    if (it == pending_.end() || --it->second > 0) return;
    const TensorImpl* key = &leaf.impl();
    if (!outermost_) {
      XOMNI_CHECK(!pass_.fired.count(key), "backward: a leaf of shape ", shape_str(leaf.shape()),
                  " with a post-accumulate hook received gradient inside a recomputed ",
                  "(checkpoint) block after its hook had run in this backward pass; a parameter ",
                  "used both inside and outside checkpointed blocks cannot have such hooks");
      if (pass_.deferred_set.insert(key).second) pass_.deferred.push_back(leaf.impl_ptr());
      return;
    }
    if (pass_.deferred_set.count(key)) return;  // fires at the end of the pass
    pass_.fired.insert(key);
    detail::run_post_accumulate_hooks(key);
  }

 private:
  HookPass& pass_;
  bool outermost_, on_;
  std::unordered_map<const TensorImpl*, int> pending_;
};
}  // namespace

bool GradMode::enabled() {
  return g_grad_enabled;
}
void GradMode::set_enabled(bool on) {
  g_grad_enabled = on;
}

Node::Node(std::string name, std::vector<Tensor> inputs, BackwardFn fn)
    : name_(std::move(name)), inputs_(std::move(inputs)), fn_(std::move(fn)) {
  needs_.reserve(inputs_.size());
  for (const Tensor& t : inputs_) needs_.push_back(t.defined() && t.requires_grad());
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn fn) {
  if (!should_record(inputs)) return out;
  // A fresh handle: `out` may share its impl with an input (identity ops).
  Tensor result = out.detach();
  auto node = std::make_shared<Node>(name, std::move(inputs), std::move(fn));
  node->output = result.impl_ptr();
  result.impl().grad_fn = std::move(node);
  return result;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads) {
  XOMNI_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " roots but ", grads.size(),
              " gradients");
  // Kernels called from here are backward work; this scope's self time is the engine's own.
  profiler::PhaseScope phase("backward");
  profiler::Scope scope("autograd_engine");
  // Count, for every node reachable from the roots, how many consumers feed it a gradient.
  std::unordered_map<const Node*, int> pending;
  std::vector<const Node*> stack;
  HookPass own_pass;
  const bool outermost = g_outer_pass == nullptr;
  if (outermost) g_outer_pass = &own_pass;
  struct ClearPass {
    bool outermost;
    ~ClearPass() {
      if (outermost) g_outer_pass = nullptr;
    }
  } clear_pass{outermost};
  LeafCounts leaves(*g_outer_pass, outermost);
  for (const Tensor& r : roots) {
    XOMNI_CHECK(r.requires_grad(), "backward: tensor of shape ", shape_str(r.shape()),
                " does not require grad (no input of it requires grad, or it was made under "
                "NoGradGuard)");
    if (const Node* n = r.grad_fn().get(); n && !pending.count(n)) {
      pending[n] = 0;
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      if (!n->needs()[i]) continue;
      const Node* child = n->inputs()[i].grad_fn().get();
      if (!child) {
        leaves.expect(n->inputs()[i].impl());
        continue;
      }
      auto [it, fresh] = pending.try_emplace(child, 0);
      ++it->second;
      if (fresh) stack.push_back(child);
    }
  }

  std::unordered_map<const Node*, std::shared_ptr<TensorImpl>> node_grads;
  std::vector<const Node*> ready;
  for (size_t i = 0; i < roots.size(); ++i) {
    TensorImpl& impl = roots[i].impl();
    if (const Node* n = impl.grad_fn.get()) {
      accumulate(node_grads[n], grads[i], impl, "root", false);
    } else {
      leaves.expect(impl);
      accumulate(impl.grad, grads[i], impl, "leaf root", true);
      leaves.done(roots[i]);
    }
  }
  // Only roots start with no pending consumers. Deterministic order: roots as given, then
  // nodes as they become ready.
  for (const Tensor& r : roots)
    if (const Node* n = r.grad_fn().get();
        n && pending[n] == 0 && std::find(ready.begin(), ready.end(), n) == ready.end())
      ready.push_back(n);

  NoGradGuard no_grad;
  while (!ready.empty()) {
    const Node* n = ready.back();
    ready.pop_back();
    auto git = node_grads.find(n);
    if (git == node_grads.end()) {  // no gradient flowed here; its inputs stop waiting for it
      for (size_t i = 0; i < n->inputs().size(); ++i) {
        if (!n->needs()[i]) continue;
        const Node* child = n->inputs()[i].grad_fn().get();
        if (!child)
          leaves.done(n->inputs()[i]);
        else if (--pending[child] == 0)
          ready.push_back(child);
      }
      continue;
    }
    Tensor g(git->second);
    node_grads.erase(git);
    if (auto out = n->output.lock(); out && out->retains_grad)
      accumulate(out->grad, g, *out, n->name().c_str(), true);

    std::vector<Tensor> in_grads = n->apply(g);
    XOMNI_CHECK(in_grads.size() == n->inputs().size(), "backward of ", n->name(), " returned ",
                in_grads.size(), " gradients for ", n->inputs().size(), " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      if (!n->needs()[i]) continue;
      const Tensor& input = n->inputs()[i];
      TensorImpl& impl = input.impl();
      if (const Node* child = impl.grad_fn.get()) {
        if (in_grads[i].defined())
          accumulate(node_grads[child], in_grads[i], impl, n->name().c_str(), false);
        if (--pending[child] == 0) ready.push_back(child);
      } else {
        if (in_grads[i].defined())
          accumulate(impl.grad, in_grads[i], impl, n->name().c_str(), true);
        leaves.done(input);
      }
    }
  }
  if (outermost)
    for (const auto& leaf : own_pass.deferred)
      if (!own_pass.fired.count(leaf.get())) detail::run_post_accumulate_hooks(leaf.get());
}

Tensor checkpoint(const Block& block, const std::vector<Tensor>& inputs) {
  Tensor out;
  {
    NoGradGuard no_grad;
    out = block(inputs);
  }
  if (!GradMode::enabled()) return out;
  // Recorded even when no input needs a gradient: parameters inside the block may.
  auto fn = [block, inputs](const Tensor& g, const std::vector<bool>&) {
    EnableGradGuard enable;
    std::vector<Tensor> detached;
    detached.reserve(inputs.size());
    for (const Tensor& t : inputs) {
      Tensor d = t.detach();
      if (t.requires_grad()) d.set_requires_grad(true);
      detached.push_back(d);
    }
    Tensor recomputed = block(detached);
    if (recomputed.requires_grad()) run_backward({recomputed}, {g});
    std::vector<Tensor> grads;
    for (const Tensor& d : detached) grads.push_back(d.grad());
    return grads;
  };
  Tensor result = out.detach();
  auto node = std::make_shared<Node>("checkpoint", inputs, fn);
  node->output = result.impl_ptr();
  result.impl().grad_fn = std::move(node);
  return result;
}

}  // namespace xomni
