// CPU index-driven lookups: gather, index_select and their scatter-add backwards, which run in a
// fixed order (no atomics), so gradients are bitwise repeatable.
#include <cstring>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"

namespace xomni::cpu {
namespace {

// Views t (contiguous) as [A, N, B] around dimension d.
struct Around {
  int64_t A = 1, N = 1, B = 1;
};
Around around(const Shape& s, int64_t d) {
  Around r;
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    if (i < d)
      r.A *= s[i];
    else if (i == d)
      r.N = s[i];
    else
      r.B *= s[i];
  }
  return r;
}

template <typename I>
void check_range(const I* idx, int64_t n, int64_t limit, const char* op) {
  for (int64_t i = 0; i < n; ++i)
    XOMNI_CHECK(idx[i] >= 0 && idx[i] < limit, op, ": index ", int64_t(idx[i]),
                " out of range [0, ", limit, ")");
}

}  // namespace

// grad_in[a, index[a, j, b], b] += g[a, j, b]; `in_shape` is the gathered-from shape.
Tensor gather_backward(const Tensor& g_in, const Tensor& index, int64_t d, const Shape& in_shape) {
  const Tensor g = g_in.contiguous();
  Tensor gi = Tensor::zeros(in_shape, g.dtype());
  const Around ao = around(g.shape(), d), ai = around(in_shape, d);
  dispatch_float("gather_backward", g.dtype(), [&]<typename T>() {
    dispatch_index("gather_backward", index.dtype(), [&]<typename I>() {
      const T* gp = g.data<T>();
      const I* ip = index.data<I>();
      T* out = gi.data<T>();
      // Output rows for different (a, b) are disjoint, so split over a.
      parallel_for(ao.A, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t a = lo; a < hi; ++a)
          for (int64_t j = 0; j < ao.N; ++j)
            for (int64_t b = 0; b < ao.B; ++b) {
              const int64_t src = (a * ao.N + j) * ao.B + b;
              out[(a * ai.N + int64_t(ip[src])) * ai.B + b] += gp[src];
            }
      });
    });
  });
  return gi;
}

Tensor gather(const Tensor& a, int64_t d, const Tensor& index) {
  Tensor out = Tensor::empty(index.shape(), a.dtype());
  const Around ao = around(index.shape(), d), ai = around(a.shape(), d);
  dispatch_float("gather", a.dtype(), [&]<typename T>() {
    dispatch_index("gather", index.dtype(), [&]<typename I>() {
      const I* ip = index.data<I>();
      check_range(ip, index.numel(), ai.N, "gather");
      const T* x = a.data<T>();
      T* y = out.data<T>();
      parallel_for(ao.A, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i)
          for (int64_t j = 0; j < ao.N; ++j)
            for (int64_t b = 0; b < ao.B; ++b) {
              const int64_t o = (i * ao.N + j) * ao.B + b;
              y[o] = x[(i * ai.N + int64_t(ip[o])) * ai.B + b];
            }
      });
    });
  });
  return out;
}

Tensor index_select(const Tensor& a, int64_t d, const Tensor& index) {
  const Around ai = around(a.shape(), d);
  Shape out_shape = a.shape();
  out_shape[d] = index.numel();
  Tensor out = Tensor::empty(out_shape, a.dtype());
  const size_t esz = dtype_size(a.dtype());
  dispatch_index("index_select", index.dtype(), [&]<typename I>() {
    const I* ip = index.data<I>();
    check_range(ip, index.numel(), ai.N, "index_select");
    const char* x = static_cast<const char*>(a.raw_data());
    char* y = static_cast<char*>(out.raw_data());
    const int64_t M = index.numel();
    parallel_for(ai.A * M, std::max<int64_t>(1, 4096 / std::max<int64_t>(ai.B, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t i = lo; i < hi; ++i) {
                     const int64_t aa = i / M, j = i % M;
                     std::memcpy(y + size_t(i * ai.B) * esz,
                                 x + size_t((aa * ai.N + int64_t(ip[j])) * ai.B) * esz,
                                 size_t(ai.B) * esz);
                   }
                 });
  });
  return out;
}

Tensor index_select_backward(const Tensor& g_in, const Tensor& index, int64_t d,
                             const Shape& in_shape) {
  // Accumulate in index order so repeated indices sum deterministically.
  const Tensor g = g_in.contiguous();
  Tensor gi = Tensor::zeros(in_shape, g.dtype());
  const Around ag = around(g.shape(), d), ai2 = around(in_shape, d);
  dispatch_float("index_select_backward", g.dtype(), [&]<typename T>() {
    dispatch_index("index_select_backward", index.dtype(), [&]<typename I>() {
      const I* ip = index.data<I>();
      const T* gp = g.data<T>();
      T* acc = gi.data<T>();
      // Split over columns b: each thread owns a disjoint slice of every output row.
      parallel_for(ag.B, 256, [&](int64_t b0, int64_t b1) {
        for (int64_t aa = 0; aa < ag.A; ++aa)
          for (int64_t j = 0; j < ag.N; ++j) {
            const T* src = gp + (aa * ag.N + j) * ag.B;
            T* dst = acc + (aa * ai2.N + int64_t(ip[j])) * ai2.B;
#pragma omp simd
            for (int64_t b = b0; b < b1; ++b) dst[b] += src[b];
          }
      });
    });
  });
  return gi;
}

}  // namespace xomni::cpu
