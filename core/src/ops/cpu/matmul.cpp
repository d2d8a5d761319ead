// CPU matmul and linear on BLAS. Operands whose last two dims are row-major or transposed go to
// GEMM as they are (lda from the stride); batches share one GEMM call where their layout allows.
#include <cstring>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/gemm.h"
#include "tensor/threading.h"
#include "xomni/core/ops/matmul_precision.h"

namespace xomni::cpu {
namespace {

// A matrix operand as BLAS sees it: pointer to element (0,0), transpose flag, leading dimension.
struct GemmOperand {
  Tensor t;  // keeps storage alive (possibly a contiguous copy)
  bool trans = false;
  int64_t ld = 0;
};

// Describes t's last two dims [r, c] for BLAS, copying only if neither layout fits.
GemmOperand as_gemm_operand(const Tensor& t) {
  const int64_t nd = t.dim();
  const int64_t r = t.shape()[nd - 2], c = t.shape()[nd - 1];
  const int64_t sr = t.strides()[nd - 2], sc = t.strides()[nd - 1];
  if ((sc == 1 || c == 1) && sr >= std::max<int64_t>(c, 1)) return {t, false, sr};
  if ((sr == 1 || r == 1) && sc >= std::max<int64_t>(r, 1)) return {t, true, sc};
  Tensor cc = t.contiguous();
  return {cc, false, std::max<int64_t>(c, 1)};
}

// C[batch] = A[batch] @ B[batch] for a and b already broadcast to the same batch shape
// (broadcast batch dims carry stride 0).
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const int64_t nd = a.dim();
  const int64_t m = a.shape()[nd - 2], k = a.shape()[nd - 1], n = b.shape()[nd - 1];
  Shape batch(a.shape().begin(), a.shape().end() - 2);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  const int64_t nbatch = shape_numel(batch);
  if (out.numel() == 0) return out;
  if (k == 0) return out.fill_(0);

  // Fold the batch into M when B is shared by every batch entry and A's rows are evenly spaced.
  bool b_shared = true;
  for (int64_t d = 0; d < nd - 2; ++d)
    b_shared = b_shared && (b.strides()[d] == 0 || b.shape()[d] == 1);
  const GemmOperand B = as_gemm_operand(b);
  if (b_shared && nbatch > 1) {
    Tensor a2 = a.contiguous();
    dispatch_float("matmul", a.dtype(), [&]<typename T>() {
      // Every batch entry of B is entry 0 (stride-0 batch dims), so one GEMM covers them all.
      const T* bp = static_cast<const T*>(B.t.raw_data());
      gemm<T>(false, B.trans, nbatch * m, n, k, a2.data<T>(), k, bp, B.ld, T(0), out.data<T>(), n);
    });
    return out;
  }
  const GemmOperand A = as_gemm_operand(a);
  // Element offsets of each batch entry, from the (possibly broadcast) batch strides.
  auto batch_offsets = [&](const Tensor& t) {
    std::vector<int64_t> offs(size_t(nbatch), 0);
    for (int64_t i = 0; i < nbatch; ++i) {
      int64_t rem = i, off = 0;
      for (int64_t d = nd - 3; d >= 0; --d) {
        off += (rem % batch[d]) * t.strides()[d];
        rem /= batch[d];
      }
      offs[size_t(i)] = off;
    }
    return offs;
  };
  const std::vector<int64_t> ao = batch_offsets(A.t), bo = batch_offsets(B.t);
  dispatch_float("matmul", a.dtype(), [&]<typename T>() {
    const T* ap = static_cast<const T*>(A.t.raw_data());
    const T* bp = static_cast<const T*>(B.t.raw_data());
    T* cp = out.data<T>();
    auto run = [&](int64_t i) {
      gemm<T>(A.trans, B.trans, m, n, k, ap + ao[size_t(i)], A.ld, bp + bo[size_t(i)], B.ld, T(0),
              cp + i * m * n, n);
    };
    // Many small products: one per thread with single-threaded BLAS. Few large: threaded BLAS.
    const bool small = double(m) * double(n) * double(k) < 2.0e6;
    if (small && nbatch > 1) {
      parallel_for(nbatch, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) run(i);
      });
    } else {
      for (int64_t i = 0; i < nbatch; ++i) run(i);
    }
  });
  return out;
}

Tensor linear(const Tensor& x2, const Tensor& weight, const Tensor& bias) {
  const int64_t in = weight.shape()[1], out_f = weight.shape()[0];
  const int64_t rows = x2.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = x2.shape();
  out_shape.back() = out_f;
  Tensor out = Tensor::empty(out_shape, x2.dtype());
  const GemmOperand W = as_gemm_operand(weight);
  dispatch_float("linear", x2.dtype(), [&]<typename T>() {
    T* y = out.data<T>();
    T beta = 0;
    if (bias.defined()) {  // start from the bias rows, then accumulate x W^T on top
      const Tensor bc = bias.contiguous();
      const T* bp = bc.data<T>();
      parallel_for(rows, 256, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) std::memcpy(y + r * out_f, bp, size_t(out_f) * sizeof(T));
      });
      beta = 1;
    }
    if (rows == 0 || out_f == 0) return;
    if (in == 0) {
      if (!bias.defined()) out.fill_(0);
      return;
    }
    // out = x [rows, in] @ W^T, W is [out, in]: W^T means flipping W's own transpose flag.
    gemm<T>(false, !W.trans, rows, out_f, in, x2.data<T>(), in,
            static_cast<const T*>(W.t.raw_data()), W.ld, beta, y, out_f);
  });
  return out;
}

}  // namespace xomni::cpu
