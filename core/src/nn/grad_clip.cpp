// Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_ with the L2 norm).
#include <cmath>

#include "tensor/threading.h"
#include "xomni/core/nn/optim.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {

namespace {

// Sum of squares in double over fixed blocks of kBlock elements, blocks added in order: the
// result depends only on the data, not on the thread count.
constexpr int64_t kBlock = 1 << 15;

template <typename T>
double sum_squares(const T* g, int64_t n) {
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(size_t(nblocks), 0.0);
  parallel_for(nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t end = std::min(n, (b + 1) * kBlock);
      double s = 0.0;
      for (int64_t i = b * kBlock; i < end; ++i) s += double(g[i]) * double(g[i]);
      partial[size_t(b)] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

std::vector<Tensor> grads_of(const std::vector<NamedParam>& params) {
  std::vector<Tensor> out;
  for (const NamedParam& p : params) {
    Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    check_dtype(("clip_grad_norm: gradient of '" + p.name + "'").c_str(), g,
                {DType::f32, DType::f64});
    if (!g.is_contiguous()) {
      g = g.contiguous();
      Tensor(p.tensor).set_grad(g);  // a handle copy: same TensorImpl
    }
    out.push_back(g);
  }
  return out;
}

double norm_of(const std::vector<Tensor>& grads) {
  double total = 0.0;
  for (const Tensor& g : grads) {
    total += dispatch_float("clip_grad_norm", g.dtype(),
                            [&]<typename T>() { return sum_squares<T>(g.data<T>(), g.numel()); });
  }
  return std::sqrt(total);
}

}  // namespace

double grad_norm(const std::vector<NamedParam>& params) {
  return norm_of(grads_of(params));
}

double clip_grad_norm(const std::vector<NamedParam>& params, double max_norm) {
  XOMNI_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = grads_of(params);
  const double total = norm_of(grads);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    for (const Tensor& g : grads) {
      dispatch_float("clip_grad_norm", g.dtype(), [&]<typename T>() {
        T* p = g.data<T>();
        const T c = T(coef);
        parallel_for(g.numel(), 1 << 16, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) p[i] *= c;
        });
      });
    }
  }
  return total;
}

}  // namespace xomni
