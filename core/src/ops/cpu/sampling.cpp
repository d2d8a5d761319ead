// CPU token sampling kernels; every row is independent.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/cpu/cpu_kernels.h"
#include "tensor/threading.h"
#include "xomni/core/tensor/random.h"

namespace xomni::cpu {
namespace {

// Applies fn(row_in, row_out, V) to every row of x (contiguous [N, V]).
template <typename Fn>
Tensor map_rows(const char* op, const Tensor& x, Fn fn) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  const int64_t N = x.shape()[0], V = x.shape()[1];
  dispatch_float(op, x.dtype(), [&]<typename T>() {
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    parallel_for(N, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) fn(xp + r * V, yp + r * V, V);
    });
  });
  return out;
}
}  // namespace

Tensor top_k_filter(const Tensor& logits, int64_t k) {
  return map_rows("top_k_filter", logits, [k](const auto* x, auto* y, int64_t V) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    std::copy(x, x + V, y);
    if (k >= V) return;
    std::vector<T> tmp(x, x + V);
    std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<T>());
    const T kth = tmp[size_t(k - 1)];  // ties with the k-th value are kept, as torch.topk masks do
    for (int64_t i = 0; i < V; ++i)
      if (y[i] < kth) y[i] = T(-INFINITY);
  });
}

Tensor top_p_filter(const Tensor& logits, double p) {
  return map_rows("top_p_filter", logits, [p](const auto* x, auto* y, int64_t V) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    // Stable: among equal logits the lower index ranks first, so the cut is deterministic.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x[a] > x[b]; });
    const double m = double(x[order[0]]);
    double z = 0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(double(x[i]) - m);
    std::fill(y, y + V, T(-INFINITY));
    double mass = 0;
    for (int64_t j = 0; j < V; ++j) {  // keep tokens until the kept mass reaches p
      const int64_t i = order[size_t(j)];
      y[i] = x[i];
      mass += std::exp(double(x[i]) - m) / z;
      if (mass >= p) break;
    }
  });
}

Tensor multinomial(const Tensor& x, uint64_t seed, uint64_t base, double temperature) {
  const int64_t N = x.shape()[0], V = x.shape()[1];
  Tensor out = Tensor::empty({N}, DType::i64);
  const double* xp = x.data<double>();
  int64_t* idx = out.data<int64_t>();
  parallel_for(N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const double* xr = xp + r * V;
      double m = -INFINITY;
      for (int64_t i = 0; i < V; ++i) m = std::max(m, xr[i]);
      XOMNI_CHECK(std::isfinite(m), "multinomial: row ", r, " has no finite logit");
      double z = 0;
      for (int64_t i = 0; i < V; ++i) z += std::exp((xr[i] - m) / temperature);
      uint32_t w[4];
      philox4x32(seed, base + uint64_t(r), w);
      const double u =
          double((uint64_t(w[0]) << 21) ^ (w[1] >> 11)) * (1.0 / 9007199254740992.0) * z;
      double acc = 0;
      int64_t pick = -1;
      for (int64_t i = 0; i < V; ++i) {
        const double e = std::exp((xr[i] - m) / temperature);
        if (e == 0) continue;
        pick = i;  // the last token with mass catches rounding at the top end
        acc += e;
        if (u < acc) break;
      }
      idx[r] = pick;
    }
  });
  return out;
}

}  // namespace xomni::cpu
