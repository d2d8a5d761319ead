#include "xomni/qwen2/weights.h"

#include <cmath>
#include <set>
#include <vector>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::qwen2 {
namespace {

// The number of NaN or infinite values of an f32/f64 parameter.
int64_t count_non_finite(const Tensor& t, const std::string& model) {
  const Tensor c = t.contiguous();
  int64_t bad = 0;
  const std::string op = model + " load_weights";
  dispatch_float(op.c_str(), c.dtype(), [&]<typename T>() {
    const T* p = c.data<T>();
    for (int64_t i = 0, n = c.numel(); i < n; ++i) bad += !std::isfinite(p[i]);
  });
  return bad;
}

}  // namespace

void load_checked_weights(nn::Module& model, const TensorMap& weights, const WeightCheck& check) {
  std::vector<std::string> missing, misshaped, unexpected, wrong_dtype, non_finite;
  std::set<std::string> used;
  for (const nn::ParamInfo& p : model.parameter_infos()) {
    const std::string& name = p.name;
    auto it = weights.find(name);
    if (it == weights.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    const Shape global = p.sharding.global_shape(p.tensor.shape());
    if (it->second.shape() != global) {
      misshaped.push_back(name + " (checkpoint " + shape_str(it->second.shape()) + ", model " +
                          shape_str(global) + ")");
      continue;
    }
    const DType dt = it->second.dtype();
    if (!is_floating(dt) || (check.config_dtype && dt != *check.config_dtype)) {
      wrong_dtype.push_back(name + " (" + dtype_name(dt) + ", expected " +
                            (check.config_dtype ? std::string(dtype_name(*check.config_dtype)) +
                                                      " from torch_dtype=" + check.torch_dtype
                                                : std::string("a floating-point dtype")) +
                            ")");
      continue;
    }
    NoGradGuard no_grad;
    Tensor piece = it->second;
    if (p.sharding.sharded()) {
      const int64_t d = p.sharding.dim, n = p.tensor.size(d);
      piece = slice(piece, d, p.sharding.index * n, (p.sharding.index + 1) * n);
    }
    model.parameter(name).copy_(piece);
    if (const int64_t bad = count_non_finite(model.parameter(name), check.model))
      non_finite.push_back(name + " (" + std::to_string(bad) + " NaN or infinite values)");
  }
  for (const auto& [name, t] : weights) {
    if (used.count(name)) continue;
    if (check.tolerate_unused && check.tolerate_unused(name, t)) continue;
    unexpected.push_back(name);
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty() && wrong_dtype.empty() &&
      non_finite.empty())
    return;
  std::string msg = check.model + ": weights do not match the model:";
  auto list = [&](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    msg += std::string("\n  ") + what + " (" + std::to_string(names.size()) + "):";
    for (const std::string& n : names) msg += "\n    " + n;
  };
  list("missing", missing);
  list("mis-shaped", misshaped);
  list("unexpected", unexpected);
  list("wrong dtype", wrong_dtype);
  list("not finite", non_finite);
  throw Error(msg);
}

}  // namespace xomni::qwen2
