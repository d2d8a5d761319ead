// AdamW with parameter groups, freezing and named state.
#include <cmath>
#include <map>
#include <set>

#include "ops/kernels.h"
#include "xomni/core/nn/optim.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {

namespace {

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& pat : patterns)
    if (glob_match(pat, name)) return true;
  return false;
}

}  // namespace

void check_adamw_options(const AdamWOptions& o, const char* who) {
  XOMNI_CHECK(o.lr >= 0, who, ": learning rate must be >= 0, got ", o.lr);
  XOMNI_CHECK(o.beta1 >= 0 && o.beta1 < 1, who, ": beta1 must be in [0, 1), got ", o.beta1);
  XOMNI_CHECK(o.beta2 >= 0 && o.beta2 < 1, who, ": beta2 must be in [0, 1), got ", o.beta2);
  XOMNI_CHECK(o.eps >= 0, who, ": eps must be >= 0, got ", o.eps);
  XOMNI_CHECK(o.weight_decay >= 0, who, ": weight_decay must be >= 0, got ", o.weight_decay);
}

bool adamw_decays(const AdamWOptions& options, const std::string& name, const Shape& shape) {
  return !(matches_any(options.no_decay, name) || (options.no_decay_1d && shape.size() == 1));
}

void adamw_update_elements(Device device, DType dtype, void* param, const void* grad, void* exp_avg,
                           void* exp_avg_sq, int64_t n, const AdamWOptions& options, double lr,
                           double weight_decay, int64_t step, double grad_scale) {
  // Scalars in double like torch's Python floats; the kernel sees them in the tensor dtype.
  const double bc1 = 1.0 - std::pow(options.beta1, double(step));
  const double bc2 = 1.0 - std::pow(options.beta2, double(step));
  const double step_size = lr / bc1;
  const AdamWScalars s{.decay = 1.0 - lr * weight_decay,
                       .beta1 = options.beta1,
                       .one_minus_beta1 = 1.0 - options.beta1,
                       .beta2 = options.beta2,
                       .one_minus_beta2 = 1.0 - options.beta2,
                       .bc2_sqrt = std::sqrt(bc2),
                       .eps = options.eps,
                       .neg_step_size = -step_size,
                       .grad_scale = grad_scale};
  kernels_for(device).adamw_update(dtype, param, grad, exp_avg, exp_avg_sq, n, s);
}

AdamW::AdamW(std::vector<NamedParam> params, AdamWOptions options)
    : params_(std::move(params)), options_(std::move(options)) {
  check_adamw_options(options_, "AdamW");
  groups_ = {ParamGroup{"decay", options_.weight_decay, options_.decay_lr_scale, {}},
             ParamGroup{"no_decay", 0.0, options_.no_decay_lr_scale, {}}};
  std::set<std::string> names;
  slots_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParam& np = params_[i];
    XOMNI_CHECK(!np.name.empty(), "AdamW: parameter ", i, " has an empty name");
    XOMNI_CHECK(names.insert(np.name).second, "AdamW: duplicate parameter name '", np.name, "'");
    XOMNI_CHECK(np.tensor.defined(), "AdamW: parameter '", np.name, "' is undefined");
    check_dtype(("AdamW parameter '" + np.name + "'").c_str(), np.tensor, {DType::f32, DType::f64});
    XOMNI_CHECK(np.tensor.is_leaf(), "AdamW: parameter '", np.name, "' is not a leaf tensor");
    XOMNI_CHECK(np.tensor.is_contiguous(), "AdamW: parameter '", np.name, "' of shape ",
                shape_str(np.tensor.shape()), " is not contiguous");
    const bool no_decay = !adamw_decays(options_, np.name, np.tensor.shape());
    Slot& s = slots_[i];
    s.group = no_decay ? 1 : 0;
    groups_[s.group].params.push_back(i);
    s.exp_avg = Tensor::zeros(np.tensor.shape(), np.tensor.dtype());
    s.exp_avg_sq = Tensor::zeros(np.tensor.shape(), np.tensor.dtype());
  }
}

void AdamW::set_lr_scale(const std::string& group, double scale) {
  XOMNI_CHECK(scale >= 0, "AdamW::set_lr_scale: scale must be >= 0, got ", scale);
  for (ParamGroup& g : groups_) {
    if (g.name == group) {
      g.lr_scale = scale;
      return;
    }
  }
  throw Error("AdamW::set_lr_scale: no group '" + group + "' (groups are 'decay' and 'no_decay')");
}

void AdamW::step() {
  NoGradGuard no_grad;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParam& np = params_[i];
    Tensor g = np.tensor.grad();
    if (!np.tensor.requires_grad() || !g.defined()) continue;
    XOMNI_CHECK(g.shape() == np.tensor.shape() && g.dtype() == np.tensor.dtype(),
                "AdamW: gradient of '", np.name, "' is ", dtype_name(g.dtype()), " ",
                shape_str(g.shape()), ", parameter is ", dtype_name(np.tensor.dtype()), " ",
                shape_str(np.tensor.shape()));
    if (!g.is_contiguous()) g = g.contiguous();
    Slot& s = slots_[i];
    const ParamGroup& grp = groups_[s.group];
    s.step += 1;
    adamw_update_elements(np.tensor.device(), np.tensor.dtype(), np.tensor.raw_data(), g.raw_data(),
                          s.exp_avg.raw_data(), s.exp_avg_sq.raw_data(), np.tensor.numel(),
                          options_, options_.lr * grp.lr_scale, grp.weight_decay, s.step);
  }
}

void AdamW::zero_grad() {
  for (NamedParam& np : params_) np.tensor.zero_grad();
}

size_t AdamW::freeze(const std::vector<std::string>& patterns) {
  return set_frozen_by_glob(params_, patterns, true, "AdamW::freeze");
}
size_t AdamW::unfreeze(const std::vector<std::string>& patterns) {
  return set_frozen_by_glob(params_, patterns, false, "AdamW::unfreeze");
}

std::vector<NamedParam> AdamW::state() const {
  std::vector<NamedParam> out;
  out.reserve(1 + 3 * params_.size());
  out.push_back({"step", Tensor::scalar(double(steps_), DType::i64)});
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].name;
    out.push_back({n + ".step", Tensor::scalar(double(slots_[i].step), DType::i64)});
    out.push_back({n + ".exp_avg", slots_[i].exp_avg.clone()});
    out.push_back({n + ".exp_avg_sq", slots_[i].exp_avg_sq.clone()});
  }
  return out;
}

void AdamW::load_state(const std::vector<NamedParam>& state) {
  std::map<std::string, const Tensor*> by_name;
  for (const NamedParam& e : state) {
    XOMNI_CHECK(by_name.emplace(e.name, &e.tensor).second,
                "AdamW::load_state: duplicate state entry '", e.name, "'");
  }
  size_t used = 0;
  auto take = [&](const std::string& name, const Shape& shape, DType dtype) -> const Tensor& {
    auto it = by_name.find(name);
    XOMNI_CHECK(it != by_name.end(), "AdamW::load_state: missing state entry '", name, "'");
    const Tensor& t = *it->second;
    XOMNI_CHECK(t.defined(), "AdamW::load_state: state entry '", name, "' is undefined");
    XOMNI_CHECK(t.shape() == shape && t.dtype() == dtype, "AdamW::load_state: state entry '", name,
                "' is ", dtype_name(t.dtype()), " ", shape_str(t.shape()), ", expected ",
                dtype_name(dtype), " ", shape_str(shape));
    ++used;
    return t;
  };
  auto count = [](const Tensor& t, const std::string& name) {
    const double v = t.item();
    XOMNI_CHECK(v >= 0, "AdamW::load_state: '", name, "' is negative (", v, ")");
    return int64_t(v);
  };
  // Validate everything before changing anything.
  const int64_t steps = count(take("step", {}, DType::i64), "step");
  std::vector<Slot> slots = slots_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].name;
    const Shape& shape = params_[i].tensor.shape();
    const DType dt = params_[i].tensor.dtype();
    slots[i].step = count(take(n + ".step", {}, DType::i64), n + ".step");
    slots[i].exp_avg = take(n + ".exp_avg", shape, dt).contiguous().clone();
    slots[i].exp_avg_sq = take(n + ".exp_avg_sq", shape, dt).contiguous().clone();
  }
  if (used != by_name.size()) {
    std::set<std::string> known = {"step"};
    for (const NamedParam& p : params_)
      for (const char* suffix : {".step", ".exp_avg", ".exp_avg_sq"}) known.insert(p.name + suffix);
    for (const auto& [name, t] : by_name)
      XOMNI_CHECK(known.count(name), "AdamW::load_state: unexpected state entry '", name,
                  "' (no parameter of that name)");
  }
  steps_ = steps;
  slots_ = std::move(slots);
}

}  // namespace xomni
