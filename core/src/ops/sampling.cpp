// Token sampling helpers: checks around the row kernels (cpu/sampling.cpp). No autograd.
#include "xomni/core/ops/sampling.h"

#include <cmath>
#include <limits>
#include <vector>

#include "ops/kernels.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni {
namespace {

void check_logits(const char* op, const Tensor& logits) {
  check_dtype(op, logits, {DType::f32, DType::f64});
  XOMNI_CHECK(logits.dim() == 2 && logits.shape()[1] > 0, op,
              ": logits must be [N, V] with V > 0, got ", shape_str(logits.shape()));
}

// The rows of `logits` as contiguous f64 with every closed column (at or below the input dtype's
// lowest finite value, or -inf) at -inf; NaN is refused, naming the row.
Tensor open_rows_f64(const char* op, const Tensor& logits) {
  check_logits(op, logits);
  XOMNI_CHECK(logits.device().is_cpu(), op, ": sampling runs on the CPU; move the logits there");
  const double lowest = logits.dtype() == DType::f32 ? double(std::numeric_limits<float>::lowest())
                                                     : std::numeric_limits<double>::lowest();
  Tensor x = logits.contiguous().to(DType::f64).clone();
  const int64_t N = x.size(0), V = x.size(1);
  double* p = x.data<double>();
  for (int64_t r = 0; r < N; ++r)
    for (int64_t i = 0; i < V; ++i) {
      double& v = p[r * V + i];
      XOMNI_CHECK(!std::isnan(v), op, ": row ", r, " column ", i, " is NaN");
      if (v <= lowest) v = -INFINITY;
    }
  return x;
}

// The largest value of a row (-inf when every column is closed).
double row_max(const double* x, int64_t V) {
  double m = -INFINITY;
  for (int64_t i = 0; i < V; ++i) m = std::max(m, x[i]);
  return m;
}

// log(sum(exp(x))) over the open columns of a row with max m (finite).
double row_logsumexp(const double* x, int64_t V, double m) {
  double z = 0;
  for (int64_t i = 0; i < V; ++i)
    if (x[i] != -INFINITY) z += std::exp(x[i] - m);
  return m + std::log(z);
}

}  // namespace

Tensor greedy(const Tensor& logits) {
  check_logits("greedy", logits);
  return argmax(logits, -1);
}

Tensor top_k_filter(const Tensor& logits, int64_t k) {
  XOMNI_CHECK(k > 0, "top_k_filter: k must be positive, got ", k);
  check_logits("top_k_filter", logits);
  NoGradGuard no_grad;
  const Tensor x = logits.contiguous();
  return kernels_for(x.device()).top_k_filter(x, k);
}

Tensor top_p_filter(const Tensor& logits, double p) {
  XOMNI_CHECK(p > 0 && p <= 1, "top_p_filter: p must be in (0, 1], got ", p);
  check_logits("top_p_filter", logits);
  NoGradGuard no_grad;
  const Tensor x = logits.contiguous();
  return kernels_for(x.device()).top_p_filter(x, p);
}

Tensor min_p_filter(const Tensor& logits, double min_p) {
  XOMNI_CHECK(min_p >= 0 && min_p <= 1, "min_p_filter: min_p must be in [0, 1], got ", min_p);
  Tensor x = open_rows_f64("min_p_filter", logits);
  const int64_t N = x.size(0), V = x.size(1);
  double* p = x.data<double>();
  // p_i >= min_p * p_max  <=>  x_i - x_max >= log(min_p): no softmax needed.
  const double cut = std::log(min_p);
  for (int64_t r = 0; r < N; ++r) {
    double* xr = p + r * V;
    const double m = row_max(xr, V);
    if (m == -INFINITY) continue;
    for (int64_t i = 0; i < V; ++i)
      if (xr[i] - m < cut) xr[i] = -INFINITY;
  }
  return x.to(logits.dtype());
}

Tensor sample(const Tensor& logits, const SamplingOptions& o, Generator& gen) {
  XOMNI_CHECK(std::isfinite(o.temperature) && o.temperature >= 0,
              "sample: temperature must be a finite number >= 0 (0 is greedy), got ",
              o.temperature);
  XOMNI_CHECK(o.top_k >= 0, "sample: top_k must be >= 0 (0: off), got ", o.top_k);
  XOMNI_CHECK(o.top_p > 0 && o.top_p <= 1, "sample: top_p must be in (0, 1] (1: off), got ",
              o.top_p);
  XOMNI_CHECK(o.min_p >= 0 && o.min_p <= 1, "sample: min_p must be in [0, 1] (0: off), got ",
              o.min_p);
  NoGradGuard no_grad;
  Tensor x = open_rows_f64("sample", logits);
  const int64_t N = x.size(0), V = x.size(1);
  for (int64_t r = 0; r < N; ++r) {
    double* xr = x.data<double>() + r * V;
    const double m = row_max(xr, V);
    XOMNI_CHECK(m > -INFINITY, "sample: row ", r,
                " has no open column (every logit is closed: at the dtype's lowest value or "
                "-inf)");
    // Shifted to a top of 0, so a tiny temperature cannot overflow the kept logits to +inf.
    for (int64_t i = 0; i < V; ++i) xr[i] = (xr[i] - m) / (o.temperature > 0 ? o.temperature : 1);
  }
  // The filters all keep the largest logit, so greedy is the argmax of the open columns.
  if (o.temperature == 0) return argmax(x, -1);
  if (o.top_k > 0) x = top_k_filter(x, o.top_k);
  if (o.top_p < 1) x = top_p_filter(x, o.top_p);
  if (o.min_p > 0) x = min_p_filter(x, o.min_p);
  return multinomial(x, gen, 1.0);
}

Tensor cfg_combine(const Tensor& cond, const Tensor& uncond, double scale) {
  XOMNI_CHECK(std::isfinite(scale), "cfg_combine: the guidance scale must be finite, got ", scale);
  XOMNI_CHECK(cond.defined() && uncond.defined() && cond.shape() == uncond.shape(),
              "cfg_combine: cond and uncond must have the same [N, V] shape, got ",
              cond.defined() ? shape_str(cond.shape()) : "undefined", " and ",
              uncond.defined() ? shape_str(uncond.shape()) : "undefined");
  NoGradGuard no_grad;
  const Tensor c = open_rows_f64("cfg_combine (cond)", cond);
  const Tensor u = open_rows_f64("cfg_combine (uncond)", uncond);
  const int64_t N = c.size(0), V = c.size(1);
  Tensor out = Tensor::empty({N, V}, DType::f64);
  const double *cp = c.data<double>(), *up = u.data<double>();
  double* op = out.data<double>();
  for (int64_t r = 0; r < N; ++r) {
    const double *cr = cp + r * V, *ur = up + r * V;
    double* yr = op + r * V;
    const double cm = row_max(cr, V), um = row_max(ur, V);
    XOMNI_CHECK(cm > -INFINITY && um > -INFINITY, "cfg_combine: row ", r, " of the ",
                cm > -INFINITY ? "unconditional" : "conditional", " logits has no open column");
    const double clse = row_logsumexp(cr, V, cm), ulse = row_logsumexp(ur, V, um);
    for (int64_t i = 0; i < V; ++i) {
      if (cr[i] == -INFINITY || ur[i] == -INFINITY) {
        yr[i] = -INFINITY;
        continue;
      }
      const double lc = cr[i] - clse, lu = ur[i] - ulse;
      yr[i] = scale * (lc - lu) + lu;
    }
  }
  return out.to(cond.dtype());
}

Tensor multinomial(const Tensor& logits, Generator& gen, double temperature) {
  check_logits("multinomial", logits);
  XOMNI_CHECK(temperature >= 0, "multinomial: temperature must be >= 0, got ", temperature);
  if (temperature == 0) return greedy(logits);
  const Tensor x = logits.contiguous().to(DType::f64);
  const uint64_t base = gen.reserve(uint64_t(x.shape()[0]));
  return kernels_for(x.device()).multinomial(x, gen.seed(), base, temperature);
}

}  // namespace xomni
