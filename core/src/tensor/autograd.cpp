#include "xomni/core/tensor/autograd.h"

#include <algorithm>
#include <unordered_map>

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
      if (!child) continue;
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
      accumulate(impl.grad, grads[i], impl, "leaf root", true);
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
        const Node* child = n->needs()[i] ? n->inputs()[i].grad_fn().get() : nullptr;
        if (child && --pending[child] == 0) ready.push_back(child);
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
      } else if (in_grads[i].defined()) {
        accumulate(impl.grad, in_grads[i], impl, n->name().c_str(), true);
      }
    }
  }
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
