// The CPU kernel table.
#include "ops/cpu/cpu_kernels.h"

#include "ops/cpu/linear_cross_entropy.h"

namespace xomni::cpu {

const Kernels& cpu_kernels() {
  static const Kernels table{
      .copy = copy,
      .fill = fill,
      .zero = zero,
      .unary = unary,
      .unary_backward = unary_backward,
      .binary = binary,
      .select = select,
      .sum = sum,
      .argmax = argmax,
      .sum_squares = sum_squares,
      .scale_ = scale_,
      .softmax = softmax,
      .softmax_backward = softmax_backward,
      .matmul = matmul,
      .linear = linear,
      .layer_norm = layer_norm,
      .layer_norm_backward = layer_norm_backward,
      .rms_norm = rms_norm,
      .rms_norm_backward = rms_norm_backward,
      .group_norm = group_norm,
      .group_norm_backward = group_norm_backward,
      .rope = rope,
      .rope_qk = rope_qk,
      .add_rms_norm = add_rms_norm,
      .add_rms_norm_backward = add_rms_norm_backward,
      .swiglu = swiglu,
      .swiglu_backward = swiglu_backward,
      .attention_forward = attention_forward,
      .attention_backward = attention_backward,
      .replace_value = replace_value,
      .conv2d = conv2d,
      .conv2d_backward = conv2d_backward,
      .repeat_blocks = repeat_blocks,
      .block_sum = block_sum,
      .gather = gather,
      .gather_backward = gather_backward,
      .index_select = index_select,
      .index_select_backward = index_select_backward,
      .cross_entropy = cross_entropy,
      .cross_entropy_backward = cross_entropy_backward,
      .linear_cross_entropy_stats = linear_cross_entropy_stats,
      .linear_cross_entropy_backward = linear_cross_entropy_backward,
      .adamw_update = adamw_update,
      .top_k_filter = top_k_filter,
      .top_p_filter = top_p_filter,
      .multinomial = multinomial,
  };
  return table;
}

}  // namespace xomni::cpu
