#pragma once
// Differentiable tensor operations. Floating ops compute in f32 or f64 on the CPU; index
// arguments are i32 or i64; masks are u8 (nonzero = true). Binary ops broadcast.
#include <optional>
#include <vector>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

// ---- elementwise ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor silu(const Tensor& a);
enum class GeluApprox { none, tanh };
Tensor gelu(const Tensor& a, GeluApprox approx = GeluApprox::none);
Tensor relu(const Tensor& a);
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond: u8
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator-(const Tensor& a) {
  return neg(a);
}
inline Tensor operator+(const Tensor& a, double s) {
  return add(a, s);
}
inline Tensor operator*(const Tensor& a, double s) {
  return mul(a, s);
}

// Sums `t` down to `shape` (the inverse of broadcasting `shape` up to t's shape).
Tensor sum_to(const Tensor& t, const Shape& shape);

// ---- reductions ----
Tensor sum(const Tensor& a);  // all elements -> scalar
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
// Unbiased by default (correction = 1), like torch.var.
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, int64_t correction = 1,
           bool keepdim = false);
struct MaxResult {
  Tensor values;   // differentiable; the gradient goes to the first maximal element
  Tensor indices;  // i64
};
MaxResult max(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);

// ---- softmax ----
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- linear algebra ----
// Batched matmul with broadcasting over leading dims; 1-D operands are promoted as in NumPy.
// Transposed views (strides swapped in the last two dims) go to BLAS without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x W^T + b for W [out, in]; bias optional.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- lookups ----
Tensor embedding(const Tensor& weight, const Tensor& ids);  // weight [V, D], ids any shape
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);

// ---- normalisation ----
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);

// ---- positions ----
// Rotary embedding on x [B, T, H, D] (rotate-half pairing, i with i + D/2, as Qwen2/Llama);
// positions [B, T] or [T] (i32/i64) so packed or context-parallel chunks keep global positions.
Tensor rope(const Tensor& x, const Tensor& positions, double theta = 10000.0);

// ---- attention ----
struct AttentionOptions {
  bool causal = false;
  // Per-token document ids [B, Tq] and [B, Tk] (i32/i64): a query only sees keys of its own
  // document. Both or neither.
  Tensor q_segment_ids;
  Tensor k_segment_ids;
  Tensor key_padding_mask;      // [B, Tk] u8, nonzero = padded (never attended)
  std::optional<double> scale;  // default 1/sqrt(D)
};
// q [B, Hq, Tq, D], k and v [B, Hkv, Tk, D] with Hq % Hkv == 0 (grouped-query heads).
// Tiled with an online softmax: at most one tile of scores per thread is ever held.
// A query row with no visible key outputs zeros.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& opt = {});

// The same kernels without autograd, for attention split over key blocks (ring attention):
// out and the per-row logsumexp of the scaled, masked scores lse [B, Hq, Tq] (q's dtype; -inf for
// a row that sees no key). Blocks merge as lse = logaddexp(lse_1, lse_2) and
// out = exp(lse_1 - lse) out_1 + exp(lse_2 - lse) out_2.
struct AttentionWithLse {
  Tensor out, lse;
};
AttentionWithLse attention_forward_lse(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const AttentionOptions& opt = {});
// Gradients {dq, dk, dv} of one (q, k, v) block given the FINAL out and lse of each query row
// (merged over every key block) and dout: P = exp(S - lse), D = rowsum(dout * out). Summing dq
// over the key blocks gives the gradient of the whole attention.
std::vector<Tensor> attention_backward_lse(const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& out, const Tensor& lse, const Tensor& dout,
                                           const AttentionOptions& opt = {});

// ---- losses ----
enum class Reduction { none, sum, mean };
// logits [N, C], targets [N] (i32/i64). Mean is over targets != ignore_index.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);

// ---- convolution and resampling (NCHW) ----
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0);
Tensor upsample_nearest2d(const Tensor& x, int64_t factor);
Tensor avg_pool2d(const Tensor& x, int64_t factor);  // kernel = stride = factor

// ---- views and shape ops ----
Tensor reshape(const Tensor& a, const Shape& shape);  // one dim may be -1
Tensor view(const Tensor& a, const Shape& shape);     // never copies; throws if impossible
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor expand(const Tensor& a, const Shape& shape);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim);
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);

}  // namespace xomni
