#pragma once
// Copying a checkpoint's tensors (global shapes, Hugging Face names) into a model's parameters,
// each rank taking its piece, with one error that lists every problem. Shared by the Qwen2 and
// X-Omni backbones.
#include <functional>
#include <optional>
#include <string>

#include "xomni/core/io/safetensors.h"
#include "xomni/core/nn/nn.h"

namespace xomni::qwen2 {

struct WeightCheck {
  std::string model;  // prefix of the error ("qwen2", "xomni")
  // The dtype config.json's torch_dtype names (every tensor must have it), and its text.
  std::optional<DType> config_dtype;
  std::string torch_dtype;
  // Called for a checkpoint tensor no parameter uses: true = ignore it, false = list it as
  // unexpected; it may throw to refuse it with a message of its own.
  std::function<bool(const std::string& name, const Tensor& t)> tolerate_unused;
};

// Throws listing every missing, mis-shaped, unexpected, wrong-dtype (not floating, or not
// torch_dtype) and non-finite tensor.
void load_checked_weights(nn::Module& model, const TensorMap& weights, const WeightCheck& check);

}  // namespace xomni::qwen2
