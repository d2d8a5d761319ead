// The rectified-flow pieces of the flow decoder (flow_matching.h) against PyTorch 1.13
// (fixtures/flow_matching.xtf, make_flow_fixtures.py): the interpolation x_t (t [B] broadcast over
// 4-D and 2-D samples), the velocity target, the loss and the gradients of all of them (the loss's
// w.r.t. v_pred in particular), one Euler step, and 4- and 7-step Euler integrations of the
// linear, time-dependent field v(x, t) = x W^T + b + t c (differentiated through every step).
// Tolerance: f32 1e-5 of scaled_max_error; f64 run 1e-6.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/flow_decoder/flow_matching.h"

using namespace xomni;
using namespace xomni::flow_decoder;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {

constexpr double kEulerStepDt = 0.3;  // EULER_STEP_DT in the script

// v(x, t) = x W^T + b + t c, as the script's euler().
Tensor integrate_linear(const V& in, int64_t steps) {
  const Tensor &W = in[1], &b = in[2], &c = in[3];
  return euler_integrate(in[0], steps,
                         [&](const Tensor& x, double t) { return linear(x, W, b) + c * t; });
}

std::vector<GoldenCase> cases() {
  return {
      {"interp", {"x1", "noise", "t"}, [](const V& x) { return interpolate(x[0], x[1], x[2]); }},
      {"interp_2d", {"x1", "noise", "t"}, [](const V& x) { return interpolate(x[0], x[1], x[2]); }},
      {"target", {"x1", "noise"}, [](const V& x) { return velocity_target(x[0], x[1]); }},
      {"loss",
       {"v_pred", "x1", "noise"},
       [](const V& x) { return flow_matching_loss(x[0], x[1], x[2]); }},
      {"euler_step", {"x", "v"}, [](const V& x) { return euler_step(x[0], x[1], kEulerStepDt); }},
      {"euler4_linear", {"x0", "W", "b", "c"}, [](const V& x) { return integrate_linear(x, 4); }},
      {"euler7_linear", {"x0", "W", "b", "c"}, [](const V& x) { return integrate_linear(x, 7); }},
  };
}

}  // namespace

XOMNI_GOLDEN_TESTS(GoldenFlowMatching, "flow_matching");
