// Token sampling helpers. No autograd; every row is independent.
#include "xomni/core/ops/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/threading.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {

void check_logits(const char* op, const Tensor& logits) {
  check_dtype(op, logits, {DType::f32, DType::f64});
  XOMNI_CHECK(logits.dim() == 2 && logits.shape()[1] > 0, op,
              ": logits must be [N, V] with V > 0, got ", shape_str(logits.shape()));
}

// Applies fn(row_in, row_out, V) to every row of a contiguous copy of logits.
template <typename Fn>
Tensor map_rows(const char* op, const Tensor& logits, Fn fn) {
  check_logits(op, logits);
  NoGradGuard no_grad;
  const Tensor x = logits.contiguous();
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

Tensor greedy(const Tensor& logits) {
  check_logits("greedy", logits);
  return argmax(logits, -1);
}

Tensor top_k_filter(const Tensor& logits, int64_t k) {
  XOMNI_CHECK(k > 0, "top_k_filter: k must be positive, got ", k);
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
  XOMNI_CHECK(p > 0 && p <= 1, "top_p_filter: p must be in (0, 1], got ", p);
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

Tensor multinomial(const Tensor& logits, Generator& gen, double temperature) {
  check_logits("multinomial", logits);
  XOMNI_CHECK(temperature >= 0, "multinomial: temperature must be >= 0, got ", temperature);
  if (temperature == 0) return greedy(logits);
  const Tensor x = logits.contiguous().to(DType::f64);
  const int64_t N = x.shape()[0], V = x.shape()[1];
  Tensor out = Tensor::empty({N}, DType::i64);
  const double* xp = x.data<double>();
  int64_t* idx = out.data<int64_t>();
  const uint64_t base = gen.reserve(uint64_t(N));
  parallel_for(N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const double* xr = xp + r * V;
      double m = -INFINITY;
      for (int64_t i = 0; i < V; ++i) m = std::max(m, xr[i]);
      XOMNI_CHECK(std::isfinite(m), "multinomial: row ", r, " has no finite logit");
      double z = 0;
      for (int64_t i = 0; i < V; ++i) z += std::exp((xr[i] - m) / temperature);
      uint32_t w[4];
      philox4x32(gen.seed(), base + uint64_t(r), w);
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

}  // namespace xomni
