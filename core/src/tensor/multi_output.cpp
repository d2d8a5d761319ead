#include "xomni/core/tensor/multi_output.h"

#include <memory>

namespace xomni {

std::vector<Tensor> record_multi(std::vector<Tensor> outs, const char* name,
                                 std::vector<Tensor> inputs, MultiBackwardFn fn) {
  if (!should_record(inputs)) return outs;
  // Gradients the ports received in this backward pass, consumed by the joint node.
  auto received = std::make_shared<std::vector<Tensor>>(outs.size());
  auto joint = [received, fn = std::move(fn)](const Tensor&, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(received->size());
    grads.swap(*received);
    return fn(grads, needs);
  };
  // A scalar anchor carries the joint node. The first port to run in a pass sends it a zero so
  // that it runs; the others send nothing (no scalar sums), which releases it all the same.
  const Tensor anchor = record(Tensor::zeros({}), name, std::move(inputs), joint);
  std::vector<Tensor> result;
  result.reserve(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    auto port = [received, i](const Tensor& g, const std::vector<bool>&) {
      bool first = true;
      for (const Tensor& r : *received) first = first && !r.defined();
      (*received)[i] = g;
      return std::vector<Tensor>{first ? Tensor::zeros({}) : Tensor()};
    };
    result.push_back(record(outs[i], name, {anchor}, port));
  }
  return result;
}

}  // namespace xomni
