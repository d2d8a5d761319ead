#pragma once
// Internal: the per-device kernel table behind every op. An op's public function (ops_*.cpp,
// Tensor's copies and fills, the optimizers) checks its arguments and wires autograd; the
// arithmetic runs in the table of the device its inputs live on:
//   const Kernels& k = kernels_for(a.device());
// The CPU table is cpu/ (cpu/cpu_kernels.cpp); another backend fills its own table in its own
// folder and calls register_kernels from there (docs/ARCHITECTURE.md, "The device seam").
// Kernels allocate their outputs on their own device and run without autograd.
#include <cstdint>
#include <vector>

#include "xomni/core/ops/linear_cross_entropy.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni {

// Elementwise maps of one tensor; s0 and s1 carry the scalar arguments (add/mul: the scalar;
// pow: the exponent; clamp: the bounds, +-inf when open).
enum class UnaryOp {
  add_scalar,
  mul_scalar,
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  silu,
  relu,
  pow,
  gelu,
  gelu_tanh,
  clamp,
};
enum class BinaryOp { add, sub, mul, div };

// True for the unary ops whose backward kernel reads the forward's output instead of its input.
inline bool unary_backward_uses_output(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::sqrt || op == UnaryOp::rsqrt || op == UnaryOp::tanh ||
         op == UnaryOp::sigmoid;
}

// A normalisation's output and the per-row (or per-group) statistics its backward reuses;
// mean and rstd are f64.
struct NormForward {
  Tensor out, mean, rstd;
};

// add_rms_norm's two outputs and its per-row rstd (f64).
struct AddNormForward {
  Tensor sum, out, rstd;
};

// conv2d geometry (NCHW input, [O, C, kh, kw] weight, square stride and padding).
struct Conv2dGeom {
  int64_t N, C, H, W, O, kh, kw, s, p, OH, OW;
  int64_t K() const { return C * kh * kw; }
  int64_t L() const { return OH * OW; }
  // A 1x1 convolution with unit stride and no padding: the im2col matrix is the input itself.
  bool direct() const { return kh == 1 && kw == 1 && s == 1 && p == 0; }
};

// Attention operands: contiguous q [B, Hq, Tq, D], k and v [B, Hkv, Tk, D]; q_seg/k_seg i64
// [B, Tq]/[B, Tk] and pad u8 [B, Tk], each undefined when unused.
struct AttentionInputs {
  Tensor q, k, v, q_seg, k_seg, pad;
  bool causal = false;
  double scale = 1.0;
};

struct CrossEntropyForward {
  Tensor out;           // per row (Reduction::none) or the reduced scalar
  Tensor lse;           // per-row logsumexp, for the backward
  int64_t counted = 0;  // rows whose target is not the ignore index
};

// One AdamW step's scalars, already in double as torch computes them.
struct AdamWScalars {
  double decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  double grad_scale = 1.0;  // the gradient is read as g * T(grad_scale) (a clip coefficient)
};

struct Kernels {
  // ---- copies and fills ----
  // dst = src converted to dst's dtype, src broadcast to dst's shape (any strides).
  void (*copy)(const Tensor& dst, const Tensor& src);
  void (*fill)(const Tensor& t, double value);
  void (*zero)(const Tensor& t);  // t contiguous

  // ---- elementwise (f32/f64) ----
  Tensor (*unary)(UnaryOp op, const Tensor& a, double s0, double s1);
  // g * op'(saved); saved is the forward's input, or its output where
  // unary_backward_uses_output(op). Not for add_scalar, mul_scalar, neg.
  Tensor (*unary_backward)(UnaryOp op, const Tensor& g, const Tensor& saved, double s0, double s1);
  Tensor (*binary)(BinaryOp op, const Tensor& a, const Tensor& b);  // broadcasting
  // cond (u8) ? a : b over the broadcast of the three shapes; `name` for errors.
  Tensor (*select)(const char* name, const Tensor& cond, const Tensor& a, const Tensor& b);

  // ---- reductions ----
  // x contiguous, viewed as [A, R, B]: sums over R into a tensor of out_shape (A * B elements).
  Tensor (*sum)(const Tensor& x, const Shape& out_shape, int64_t A, int64_t R, int64_t B);
  // a contiguous: index of the first maximum along dim (NaN is the maximum), i64 of out_shape.
  Tensor (*argmax)(const Tensor& a, int64_t dim, const Shape& out_shape);
  double (*sum_squares)(const Tensor& t);          // t contiguous, accumulated in double
  void (*scale_)(const Tensor& t, double factor);  // t contiguous, in place

  // ---- softmax over rows of the last dim (x, g, y contiguous) ----
  Tensor (*softmax)(const Tensor& x, bool log_space);
  Tensor (*softmax_backward)(const Tensor& g, const Tensor& y, bool log_space);

  // ---- matmul ----
  // a [..., m, k] @ b [..., k, n], both already broadcast to one batch shape (stride-0 dims).
  Tensor (*matmul)(const Tensor& a, const Tensor& b);
  // x [..., in] contiguous, weight [out, in], bias [out] or undefined: x W^T + b, [..., out].
  Tensor (*linear)(const Tensor& x, const Tensor& weight, const Tensor& bias);

  // ---- normalisation (x, w, b, g contiguous; w and b of the normalised size) ----
  NormForward (*layer_norm)(const Tensor& x, const Tensor& w, const Tensor& b, double eps);
  std::vector<Tensor> (*layer_norm_backward)(const Tensor& x, const Tensor& w, const Tensor& g,
                                             const Tensor& mean, const Tensor& rstd);  // gx, gw, gb
  NormForward (*rms_norm)(const Tensor& x, const Tensor& w, double eps);  // mean undefined
  std::vector<Tensor> (*rms_norm_backward)(const Tensor& x, const Tensor& w, const Tensor& g,
                                           const Tensor& rstd);  // gx, gw
  // x [N, C, *]; w, b [C] or undefined; stats per (n, group).
  NormForward (*group_norm)(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                            double eps);
  // {dx, dw, db}, each only where `needs` asks.
  std::vector<Tensor> (*group_norm_backward)(const Tensor& x, int64_t groups, const Tensor& w,
                                             const Tensor& g, const Tensor& mean,
                                             const Tensor& rstd, const std::vector<bool>& needs);

  // ---- positions: x [B, T, H, D] contiguous rotated by +angle, or -angle when inverse ----
  Tensor (*rope)(const Tensor& x, const Tensor& positions, double theta, bool inverse);
  // q [B, T, Hq, D] and k [B, T, Hk, D] contiguous rotated by +angle into [B, H, T, D]; when
  // inverse, gradients [B, H, T, D] rotated by -angle back into [B, T, H, D]. {q, k}.
  std::vector<Tensor> (*rope_qk)(const Tensor& q, const Tensor& k, const Tensor& positions,
                                 double theta, bool inverse);

  // ---- fused decoder-layer maps (all operands contiguous, one shape) ----
  // sum = x + r and out = sum * rstd(sum) * w in one pass (w of the last dim's size).
  AddNormForward (*add_rms_norm)(const Tensor& x, const Tensor& r, const Tensor& w, double eps);
  // {g_sum_total, gw}: g_sum + rms_norm's input gradient for g_out; g_sum or g_out may be
  // undefined (no gradient reached that output); gw undefined without g_out.
  std::vector<Tensor> (*add_rms_norm_backward)(const Tensor& sum, const Tensor& w,
                                               const Tensor& rstd, const Tensor& g_sum,
                                               const Tensor& g_out);
  Tensor (*swiglu)(const Tensor& gate, const Tensor& up);  // silu(gate) * up
  // {g_gate, g_up}, the sigmoid recomputed from gate.
  std::vector<Tensor> (*swiglu_backward)(const Tensor& gate, const Tensor& up, const Tensor& g);

  // ---- attention (tiles with an online softmax) ----
  // Writes out and lse (lse = +inf for a row that sees no key).
  void (*attention_forward)(const AttentionInputs& in, const Tensor& out, const Tensor& lse);
  // Accumulates into dq, dk, dv (zeroed by the caller; any may be undefined).
  void (*attention_backward)(const AttentionInputs& in, const Tensor& out, const Tensor& lse,
                             const Tensor& dout, const Tensor& dq, const Tensor& dk,
                             const Tensor& dv);
  // A contiguous copy of t with every element equal to `from` set to `to`.
  Tensor (*replace_value)(const Tensor& t, double from, double to);

  // ---- convolution and resampling (NCHW, contiguous) ----
  Tensor (*conv2d)(const Conv2dGeom& g, const Tensor& x, const Tensor& w, const Tensor& b);
  // {dx, dw, db}, each only where `needs` asks; x is needed for dw, w for dx.
  std::vector<Tensor> (*conv2d_backward)(const Conv2dGeom& g, const Tensor& x, const Tensor& w,
                                         const Tensor& gy, const std::vector<bool>& needs);
  // Each pixel times `scale` repeated into a factor x factor block.
  Tensor (*repeat_blocks)(const Tensor& x, int64_t factor, double scale);
  // Sums of factor x factor blocks times `scale`.
  Tensor (*block_sum)(const Tensor& x, int64_t factor, double scale);

  // ---- lookups (a and index contiguous, g any layout; indices i32/i64, range-checked) ----
  Tensor (*gather)(const Tensor& a, int64_t dim, const Tensor& index);
  Tensor (*gather_backward)(const Tensor& g, const Tensor& index, int64_t dim,
                            const Shape& in_shape);
  Tensor (*index_select)(const Tensor& a, int64_t dim, const Tensor& index);  // any dtype
  Tensor (*index_select_backward)(const Tensor& g, const Tensor& index, int64_t dim,
                                  const Shape& in_shape);

  // ---- losses (logits [N, C] contiguous, targets i64 [N]) ----
  CrossEntropyForward (*cross_entropy)(const Tensor& logits, const Tensor& targets,
                                       int64_t ignore_index, Reduction reduction);
  Tensor (*cross_entropy_backward)(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                   const Tensor& g, int64_t ignore_index, Reduction reduction,
                                   int64_t counted);

  // ---- the LM head fused with cross-entropy (xomni/core/ops/linear_cross_entropy.h; operands
  // checked and contiguous, targets i64, chunk in [1, V]) ----
  LinearCrossEntropyStats (*linear_cross_entropy_stats)(const Tensor& hidden, const Tensor& weight,
                                                        const Tensor& targets, int64_t vocab_start,
                                                        int64_t ignore_index, int64_t chunk);
  std::vector<Tensor> (*linear_cross_entropy_backward)(const Tensor& hidden, const Tensor& weight,
                                                       const Tensor& targets, const Tensor& lse,
                                                       const Tensor& g, int64_t vocab_start,
                                                       int64_t ignore_index,
                                                       const std::vector<bool>& needs,
                                                       int64_t chunk);

  // ---- optimizer: one AdamW update of n contiguous elements, in place ----
  void (*adamw_update)(DType dtype, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                       int64_t n, const AdamWScalars& s);

  // ---- sampling (logits [N, V] contiguous) ----
  Tensor (*top_k_filter)(const Tensor& logits, int64_t k);
  Tensor (*top_p_filter)(const Tensor& logits, double p);
  // logits f64; row r draws with the Philox counter base + r of `seed`.
  Tensor (*multinomial)(const Tensor& logits, uint64_t seed, uint64_t base, double temperature);
};

// The table for `device`; throws "no kernels for device cuda:0 in this build ..." when none is
// registered for its kind.
const Kernels& kernels_for(Device device);
// Installs `table` for every device of `kind`; returns the table it replaces (may be null).
const Kernels* register_kernels(Device::Kind kind, const Kernels* table);

}  // namespace xomni
