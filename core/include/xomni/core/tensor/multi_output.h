#pragma once
// Autograd for ops with several differentiable outputs (fused kernels such as add_rms_norm). The
// engine's nodes have one output each, so every output gets a small port node that keeps the
// gradient it receives and hands a scalar to one joint node; the joint node runs after all ports
// and calls the op's backward once with every output's gradient.
#include <functional>
#include <vector>

#include "xomni/core/tensor/autograd.h"

namespace xomni {

// grads_out: one per output, undefined where no gradient reached it -> one gradient per input
// (undefined where `needs[i]` is false).
using MultiBackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads_out,
                                                          const std::vector<bool>& needs)>;

// Attaches the ports and the joint node when should_record(inputs); returns the outputs.
std::vector<Tensor> record_multi(std::vector<Tensor> outs, const char* name,
                                 std::vector<Tensor> inputs, MultiBackwardFn fn);

}  // namespace xomni
