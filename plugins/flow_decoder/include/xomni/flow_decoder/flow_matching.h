#pragma once
// Rectified flow (flow matching with straight paths), the training objective and sampler of the
// flow_decoder plugin, as small free functions shared by the model and its tests.
//
// Conventions:
//   - Images live in [-1, 1] inside the decoder (pixels p in [0, 1] map to 2p - 1).
//   - A path runs from noise at t = 0 to the image at t = 1:
//       x_t = (1 - t) * noise + t * x1,      x1 the image, noise ~ N(0, I), t in [0, 1].
//   - The network predicts the velocity dx_t/dt = x1 - noise, and is trained with
//       loss = mean((v_pred - (x1 - noise))^2)   (mean over every element).
//   - Training timesteps: "uniform" (t ~ U[0, 1)) or "logit_normal" (t = sigmoid(n),
//     n ~ N(0, 1): Stable Diffusion 3's choice, which spends more steps on middle t).
//   - Sampling: Euler from t = 0 (x_0 = noise) to t = 1 in `steps` equal steps of dt = 1/steps,
//       x <- x + dt * v(x, t_k),   t_k = k / steps, k = 0 .. steps-1;
//     the decoder then returns clamp((x + 1) / 2, 0, 1).
// Timesteps are tensors [B] (one per sample) broadcast over the other dims of x [B, ...].
#include <cstdint>
#include <functional>
#include <string>

#include "xomni/core/tensor/random.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::flow_decoder {

enum class TimestepSampling { uniform, logit_normal };
// "uniform" / "logit_normal"; anything else throws naming `setting` and the choices.
TimestepSampling parse_timestep_sampling(const std::string& name, const std::string& setting);
const char* timestep_sampling_name(TimestepSampling s);

// t [B] as [B, 1, ..., 1] with x's rank, in x's dtype, to broadcast against x [B, ...].
Tensor broadcast_time(const Tensor& t, const Tensor& x);
// x_t = (1 - t) * noise + t * x1.
Tensor interpolate(const Tensor& x1, const Tensor& noise, const Tensor& t);
// The velocity target x1 - noise.
Tensor velocity_target(const Tensor& x1, const Tensor& noise);
// mean((v_pred - (x1 - noise))^2), a scalar.
Tensor flow_matching_loss(const Tensor& v_pred, const Tensor& x1, const Tensor& noise);
// x + dt * v.
Tensor euler_step(const Tensor& x, const Tensor& v, double dt);

// The velocity field v(x, t) at one time t (the same for the whole batch).
using VelocityField = std::function<Tensor(const Tensor& x, double t)>;
// `steps` Euler steps from x0 at t = 0 to t = 1 (steps > 0, else an Error).
Tensor euler_integrate(const Tensor& x0, int64_t steps, const VelocityField& v);

// n training timesteps [n] f32 in [0, 1], drawn from `gen`.
Tensor sample_timesteps(int64_t n, TimestepSampling sampling, Generator& gen);

}  // namespace xomni::flow_decoder
