#include "xomni/flow_decoder/flow_matching.h"

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/error.h"

namespace xomni::flow_decoder {

TimestepSampling parse_timestep_sampling(const std::string& name, const std::string& setting) {
  if (name == "uniform") return TimestepSampling::uniform;
  if (name == "logit_normal") return TimestepSampling::logit_normal;
  throw Error(setting + " must be \"logit_normal\" or \"uniform\", got \"" + name + "\"");
}

const char* timestep_sampling_name(TimestepSampling s) {
  return s == TimestepSampling::uniform ? "uniform" : "logit_normal";
}

Tensor broadcast_time(const Tensor& t, const Tensor& x) {
  XOMNI_CHECK(x.dim() >= 1 && t.dim() == 1 && t.size(0) == x.size(0),
              "flow matching: timesteps must be [B] for a batch x of B samples, got t ",
              shape_str(t.shape()), " for x ", shape_str(x.shape()));
  Shape s(size_t(x.dim()), 1);
  s[0] = x.size(0);
  Tensor tt = reshape(t, s);
  return tt.dtype() == x.dtype() ? tt : tt.to(x.dtype());
}

Tensor interpolate(const Tensor& x1, const Tensor& noise, const Tensor& t) {
  XOMNI_CHECK(x1.shape() == noise.shape(), "flow matching: x1 ", shape_str(x1.shape()),
              " and noise ", shape_str(noise.shape()), " must have the same shape");
  const Tensor tt = broadcast_time(t, x1);
  return noise * add(neg(tt), 1.0) + x1 * tt;
}

Tensor velocity_target(const Tensor& x1, const Tensor& noise) {
  XOMNI_CHECK(x1.shape() == noise.shape(), "flow matching: x1 ", shape_str(x1.shape()),
              " and noise ", shape_str(noise.shape()), " must have the same shape");
  return x1 - noise;
}

Tensor flow_matching_loss(const Tensor& v_pred, const Tensor& x1, const Tensor& noise) {
  XOMNI_CHECK(v_pred.shape() == x1.shape(), "flow matching: the predicted velocity ",
              shape_str(v_pred.shape()), " must have the image's shape ", shape_str(x1.shape()));
  const Tensor d = v_pred - velocity_target(x1, noise);
  return mean(d * d);
}

Tensor euler_step(const Tensor& x, const Tensor& v, double dt) {
  return x + v * dt;
}

Tensor euler_integrate(const Tensor& x0, int64_t steps, const VelocityField& v) {
  XOMNI_CHECK(steps > 0, "flow matching: Euler steps must be positive, got ", steps);
  const double dt = 1.0 / double(steps);
  Tensor x = x0;
  for (int64_t k = 0; k < steps; ++k) x = euler_step(x, v(x, double(k) * dt), dt);
  return x;
}

Tensor sample_timesteps(int64_t n, TimestepSampling sampling, Generator& gen) {
  XOMNI_CHECK(n > 0, "flow matching: the number of timesteps must be positive, got ", n);
  if (sampling == TimestepSampling::uniform) return rand({n}, gen);
  return sigmoid(randn({n}, gen));
}

}  // namespace xomni::flow_decoder
