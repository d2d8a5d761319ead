#pragma once
// Define-by-run reverse-mode autodiff. Each differentiable op that sees an input requiring a
// gradient records a Node on its output; backward() visits nodes in reverse topological order.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

// grad_out -> one gradient per input (undefined where `needs[i]` is false).
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad_out, const std::vector<bool>& needs)>;

class Node {
 public:
  Node(std::string name, std::vector<Tensor> inputs, BackwardFn fn);
  const std::string& name() const { return name_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  const std::vector<bool>& needs() const { return needs_; }
  std::vector<Tensor> apply(const Tensor& grad_out) const { return fn_(grad_out, needs_); }
  std::weak_ptr<TensorImpl> output;  // for retain_grad and shape checks

 private:
  std::string name_;
  std::vector<Tensor> inputs_;
  std::vector<bool> needs_;
  BackwardFn fn_;
};

// Whether ops record history on this thread.
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and any input requires a gradient.
bool should_record(const std::vector<Tensor>& inputs);
// Attaches a node to `out` when should_record(inputs); returns `out`.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn fn);

// Runs backward from several roots at once, each with its gradient.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads);

// Activation recomputation: runs `block` without recording, keeps only `inputs`, and re-runs
// `block` with recording during backward. Parameters used inside `block` receive gradients.
// `block` must be deterministic (same result when re-run).
using Block = std::function<Tensor(const std::vector<Tensor>&)>;
Tensor checkpoint(const Block& block, const std::vector<Tensor>& inputs);

}  // namespace xomni
