// CPU kernels of the fused LM head and cross-entropy. Both passes walk the vocabulary in chunks of
// `chunk` weight rows and reuse one [N, chunk] logits buffer, so nothing of size N x V exists:
//   forward:  L_c = H W_c^T; per row the chunk's max and sum of exponentials, merged into a
//             running (max, sum) in f64 (online log-sum-exp), and the target's logit.
//   backward: L_c again; P_c = g * (exp(L_c - lse) - onehot(target)); dH += P_c W_c and
//             dW_c = P_c^T H.
#include "ops/cpu/linear_cross_entropy.h"

#include <cmath>

#include "ops/cpu/gemm.h"
#include "ops/cpu/vec_math.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {
// Rows per thread range: about 8192 logits of work each.
int64_t row_grain(int64_t cols) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1));
}
}  // namespace

LinearCrossEntropyStats linear_cross_entropy_stats(const Tensor& hidden, const Tensor& weight,
                                                   const Tensor& targets, int64_t vocab_start,
                                                   int64_t ignore_index, int64_t chunk) {
  const int64_t N = hidden.size(0), H = hidden.size(1), V = weight.size(0);
  LinearCrossEntropyStats s{Tensor::full({N}, -INFINITY, DType::f64),
                            Tensor::zeros({N}, DType::f64), Tensor::zeros({N}, DType::f64)};
  if (N == 0 || V == 0) return s;
  dispatch_float("linear_cross_entropy", hidden.dtype(), [&]<typename T>() {
    const T* h = hidden.data<T>();
    const T* w = weight.data<T>();
    const int64_t* t = targets.data<int64_t>();
    double* row_max = s.row_max.data<double>();
    double* sum_exp = s.sum_exp.data<double>();
    double* target_logit = s.target_logit.data<double>();
    Tensor buffer = Tensor::empty({N, chunk}, hidden.dtype());
    T* logits = buffer.data<T>();
    for (int64_t c0 = 0; c0 < V; c0 += chunk) {
      const int64_t C = std::min(chunk, V - c0);
      gemm<T>(false, true, N, C, H, h, H, w + c0 * H, H, T(0), logits, C);
      parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          const T* l = logits + r * C;
          T m = -INFINITY;
          for (int64_t c = 0; c < C; ++c) m = l[c] > m ? l[c] : m;
          T e = 0;
#pragma omp simd reduction(+ : e)
          for (int64_t c = 0; c < C; ++c) e += fast_exp(l[c] - m);
          // Merge (m, e) into the running (max, sum): rescale whichever has the smaller max.
          const double md = double(m);
          if (md > row_max[r]) {
            sum_exp[r] = sum_exp[r] * std::exp(row_max[r] - md) + double(e);
            row_max[r] = md;
          } else {
            sum_exp[r] += double(e) * std::exp(md - row_max[r]);
          }
          const int64_t local = t[r] - vocab_start - c0;
          if (t[r] != ignore_index && local >= 0 && local < C) target_logit[r] = double(l[local]);
        }
      });
    }
  });
  return s;
}

std::vector<Tensor> linear_cross_entropy_backward(const Tensor& hidden, const Tensor& weight,
                                                  const Tensor& targets, const Tensor& lse,
                                                  const Tensor& g, int64_t vocab_start,
                                                  int64_t ignore_index,
                                                  const std::vector<bool>& needs, int64_t chunk) {
  const int64_t N = hidden.size(0), H = hidden.size(1), V = weight.size(0);
  Tensor dh, dw;
  if (needs[0]) dh = Tensor::zeros({N, H}, hidden.dtype());
  // Every chunk writes its rows of dW whole (beta 0), so dW needs zeros only when there are none.
  if (needs[1])
    dw = N == 0 ? Tensor::zeros({V, H}, weight.dtype()) : Tensor::empty({V, H}, weight.dtype());
  if ((!needs[0] && !needs[1]) || N == 0 || V == 0) return {dh, dw};
  dispatch_float("linear_cross_entropy_backward", hidden.dtype(), [&]<typename T>() {
    const T* h = hidden.data<T>();
    const T* w = weight.data<T>();
    const int64_t* t = targets.data<int64_t>();
    const double* lp = lse.data<double>();
    const T* gp = g.data<T>();
    Tensor buffer = Tensor::empty({N, chunk}, hidden.dtype());
    T* p = buffer.data<T>();
    for (int64_t c0 = 0; c0 < V; c0 += chunk) {
      const int64_t C = std::min(chunk, V - c0);
      gemm<T>(false, true, N, C, H, h, H, w + c0 * H, H, T(0), p, C);
      parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          T* pr = p + r * C;
          if (t[r] == ignore_index) {
            std::fill(pr, pr + C, T(0));
            continue;
          }
          const T gs = gp[r], l = T(lp[r]);
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) pr[c] = gs * fast_exp(pr[c] - l);
          const int64_t local = t[r] - vocab_start - c0;
          if (local >= 0 && local < C) pr[local] -= gs;
        }
      });
      if (dh.defined()) gemm<T>(false, false, N, H, C, p, C, w + c0 * H, H, T(1), dh.data<T>(), H);
      if (dw.defined()) gemm<T>(true, false, C, H, N, p, C, h, H, T(0), dw.data<T>() + c0 * H, H);
    }
  });
  return {dh, dw};
}

}  // namespace xomni::cpu
