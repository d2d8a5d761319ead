#pragma once
// AdamW (torch.optim.AdamW semantics), parameter groups, freezing by name, gradient clipping.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

struct NamedParam {
  std::string name;
  Tensor tensor;
};

// Shell-style glob on whole names: '*' matches any run of characters (dots included), '?' one.
bool glob_match(std::string_view pattern, std::string_view name);
// Freezing by name, for optimizers: sets requires_grad off (`frozen`; the gradient is dropped too)
// or on for every parameter whose name matches one of the globs, and returns how many matched. A
// pattern that matches no name throws an Error prefixed with `who` (a typo would otherwise
// silently train everything).
size_t set_frozen_by_glob(std::vector<NamedParam>& params, const std::vector<std::string>& patterns,
                          bool frozen, const char* who);

struct AdamWOptions {
  double lr = 1e-3;  // base learning rate; each group scales it by its lr_scale
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // applied to the "decay" group only
  // A parameter goes to the "no_decay" group when its name matches one of these globs, or when
  // it is 1-D and no_decay_1d is set (biases, norm weights).
  std::vector<std::string> no_decay = {"*.bias", "*norm*"};
  bool no_decay_1d = true;
  double decay_lr_scale = 1.0;
  double no_decay_lr_scale = 1.0;
};

// Throws an Error, prefixed with `who`, unless lr, betas, eps and weight_decay are in range.
void check_adamw_options(const AdamWOptions& options, const char* who);

// Whether AdamW puts a parameter with this name and (whole) shape in the "decay" group.
// Optimizers that keep slices of a parameter (ZeRO) must decide from the whole parameter: a
// flattened piece of a 2-D weight is 1-D but still decays.
bool adamw_decays(const AdamWOptions& options, const std::string& name, const Shape& shape);

// The AdamW update (formulas below) of n contiguous elements: the kernel AdamW::step runs, for
// optimizers that hold the state of a slice of a parameter. The four buffers live on `device`
// and have `dtype` f32 or f64; `lr` includes the group's lr_scale; `step` is the parameter's step
// count after this update. Elementwise, so a slice gets bitwise the values the whole-tensor
// update gives it. The gradient is read as g * grad_scale (rounded to dtype): bitwise the update
// after scale_in_place(grad, grad_scale), without writing the gradient.
void adamw_update_elements(Device device, DType dtype, void* param, const void* grad, void* exp_avg,
                           void* exp_avg_sq, int64_t n, const AdamWOptions& options, double lr,
                           double weight_decay, int64_t step, double grad_scale = 1.0);

struct ParamGroup {
  std::string name;  // "decay" or "no_decay"
  double weight_decay = 0.0;
  double lr_scale = 1.0;
  std::vector<size_t> params;  // indices into AdamW::params()
};

// AdamW with decoupled weight decay and bias correction, exactly as torch.optim.AdamW
// (amsgrad off): per parameter with a gradient,
//   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// with t the parameter's own step count. Parameters that do not require a gradient (frozen) or
// have none are skipped and their state does not advance. Updates run in place under
// NoGradGuard, elementwise (so bitwise repeatable at any thread count). Parameters must be
// contiguous f32 or f64 leaves with unique names; state tensors have the parameter's dtype.
class AdamW {
 public:
  AdamW(std::vector<NamedParam> params, AdamWOptions options = {});

  void step();
  void zero_grad();  // drops every parameter's gradient
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  // Number of step() calls so far (saved in state() as "step").
  int64_t steps() const { return steps_; }

  // Freezing: sets requires_grad off (on) for every parameter whose name matches one of the
  // globs; returns how many matched. A pattern that matches nothing is an error (a typo would
  // otherwise silently train everything).
  size_t freeze(const std::vector<std::string>& patterns);
  size_t unfreeze(const std::vector<std::string>& patterns);

  const std::vector<NamedParam>& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // Changes a group's learning-rate multiplier ("decay" or "no_decay").
  void set_lr_scale(const std::string& group, double scale);
  const AdamWOptions& options() const { return options_; }

  // Optimizer state as named tensors (copies): "step" (i64 scalar), and per parameter
  // "<name>.step" (i64 scalar), "<name>.exp_avg", "<name>.exp_avg_sq" (parameter shape/dtype).
  std::vector<NamedParam> state() const;
  // Restores state(); every entry must be present with the right shape and dtype, else an Error
  // names the entry. Extra entries are an error too.
  void load_state(const std::vector<NamedParam>& state);

 private:
  struct Slot {
    Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
    double weight_decay = 0.0;
    size_t group = 0;
  };
  std::vector<NamedParam> params_;
  std::vector<Slot> slots_;
  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

// Scales every defined gradient among `params` so that their global L2 norm is at most max_norm,
// as torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), applied only when
// below 1). The norm is accumulated in double in a fixed order (parameter order, fixed-size
// blocks), so it does not depend on the thread count. Returns the norm before clipping (inf or
// NaN when a gradient is not finite; gradients are then scaled like torch does, by NaN or 0).
double clip_grad_norm(const std::vector<NamedParam>& params, double max_norm);
// The same norm without clipping.
double grad_norm(const std::vector<NamedParam>& params);

}  // namespace xomni
