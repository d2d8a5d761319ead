// The rectified-flow sampler and timestep draws (flow_matching.h) against closed forms: Euler on
// a constant field lands exactly on x1 for any step count, Euler on v = x gives (1 + 1/n)^n; the
// uniform and logit-normal draws have the moments of their distributions (references by
// quadrature, tolerances of 5 standard errors at the sample size); argument checks.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"
#include "xomni/core/ops/ops.h"
#include "xomni/flow_decoder/flow_matching.h"

using namespace xomni;
using namespace xomni::flow_decoder;
using test::contains;
using test::error_message;

namespace {

struct Moments {
  double mean = 0, var = 0, m4 = 0;  // mean, variance, 4th central moment
};

Moments sample_moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  for (double x : v) {
    const double d = x - m.mean;
    m.var += d * d;
    m.m4 += d * d * d * d;
  }
  m.var /= double(v.size() - 1);
  m.m4 /= double(v.size());
  return m;
}

// Moments of f(n), n ~ N(0, 1), by Simpson's rule over [-12, 12].
template <typename F>
Moments normal_expectation_moments(F f) {
  const int n = 24000;  // even
  const double a = -12.0, h = 24.0 / n;
  auto integrate = [&](auto g) {
    double s = 0;
    for (int i = 0; i <= n; ++i) {
      const double x = a + i * h;
      const double w = (i == 0 || i == n) ? 1 : (i % 2 == 1 ? 4 : 2);
      s += w * g(x) * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    }
    return s * h / 3;
  };
  Moments m;
  m.mean = integrate([&](double x) { return f(x); });
  m.var = integrate([&](double x) { return std::pow(f(x) - m.mean, 2); });
  m.m4 = integrate([&](double x) { return std::pow(f(x) - m.mean, 4); });
  return m;
}

// The sample's mean and variance agree with `ref` within 5 standard errors at its size.
void expect_moments(const std::vector<double>& v, const Moments& ref, const char* what) {
  const double n = double(v.size());
  const Moments s = sample_moments(v);
  const double se_mean = std::sqrt(ref.var / n);
  const double se_var = std::sqrt((ref.m4 - ref.var * ref.var) / n);
  EXPECT_NEAR(s.mean, ref.mean, 5 * se_mean) << what << " mean";
  EXPECT_NEAR(s.var, ref.var, 5 * se_var) << what << " variance";
}

constexpr int64_t kDraws = 200000;

}  // namespace

TEST(FlowMatching, EulerOnAConstantFieldLandsOnX1ForAnyStepCount) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x0 = test::uniform({2, 3, 4, 4}, 1, dt), x1 = test::uniform({2, 3, 4, 4}, 2, dt);
    const Tensor v = x1 - x0;  // the exact velocity of the straight path x0 -> x1
    int calls = 0;
    for (int64_t steps : {1, 2, 3, 5, 16, 100}) {
      calls = 0;
      const Tensor out = euler_integrate(x0, steps, [&](const Tensor& x, double t) {
        EXPECT_DOUBLE_EQ(t, double(calls) / double(steps));
        EXPECT_EQ(x.shape(), x0.shape());
        ++calls;
        return v;
      });
      EXPECT_EQ(calls, steps);
      // Each step rounds once: at most (steps + 1) units of rounding of |x| <= 1.
      const double unit = dt == DType::f32 ? 0x1p-23 : 0x1p-52;
      test::expect_close(out, x1, double(steps + 1) * unit,
                         "Euler with " + std::to_string(steps) + " steps");
    }
  }
}

TEST(FlowMatching, EulerOnExponentialFieldIsTheCompoundInterestFormula) {
  // v(x, t) = x: each step multiplies by (1 + 1/n), so n steps give x0 (1 + 1/n)^n.
  const Tensor x0 = test::uniform({3, 5}, 3);
  for (int64_t n : {1, 2, 4, 7, 50}) {
    const Tensor out = euler_integrate(x0, n, [](const Tensor& x, double) { return x; });
    test::expect_close(out, x0 * std::pow(1.0 + 1.0 / double(n), double(n)), 1e-13,
                       "n = " + std::to_string(n));
  }
}

TEST(FlowMatching, InterpolationEndsAreNoiseAndImage) {
  const Tensor x1 = test::uniform({3, 2, 2, 2}, 4), noise = test::uniform({3, 2, 2, 2}, 5);
  const Tensor t = Tensor::from_vector<double>({0.0, 1.0, 0.25}, {3});
  const Tensor xt = interpolate(x1, noise, t);
  test::expect_close(slice(xt, 0, 0, 1), slice(noise, 0, 0, 1), 0, "t = 0");
  test::expect_close(slice(xt, 0, 1, 2), slice(x1, 0, 1, 2), 0, "t = 1");
  test::expect_close(slice(xt, 0, 2, 3), slice(noise * 0.75 + x1 * 0.25, 0, 2, 3), 1e-15,
                     "t = 1/4");
  // Along the path x_t moves with exactly the target velocity: d x_t / dt = x1 - noise.
  const Tensor t2 = Tensor::from_vector<double>({0.5, 0.5, 0.5}, {3});
  const Tensor t3 = Tensor::from_vector<double>({0.75, 0.75, 0.75}, {3});
  test::expect_close((interpolate(x1, noise, t3) - interpolate(x1, noise, t2)) * 4.0,
                     velocity_target(x1, noise), 1e-14, "finite difference along the path");
}

TEST(FlowMatching, UniformTimestepsHaveUniformMoments) {
  Generator gen(11);
  const Tensor t = sample_timesteps(kDraws, TimestepSampling::uniform, gen);
  ASSERT_EQ(t.shape(), Shape({kDraws}));
  EXPECT_EQ(t.dtype(), DType::f32);
  const std::vector<double> v = t.to_vector<double>();
  for (double x : v) ASSERT_TRUE(x >= 0.0 && x < 1.0) << x;
  // U[0, 1): mean 1/2, variance 1/12, 4th central moment 1/80.
  expect_moments(v, {0.5, 1.0 / 12, 1.0 / 80}, "uniform t");
}

TEST(FlowMatching, LogitNormalTimestepsHaveLogitNormalMoments) {
  Generator gen(12);
  const Tensor t = sample_timesteps(kDraws, TimestepSampling::logit_normal, gen);
  ASSERT_EQ(t.shape(), Shape({kDraws}));
  const std::vector<double> v = t.to_vector<double>();
  std::vector<double> logits;
  for (double x : v) {
    ASSERT_TRUE(x > 0.0 && x < 1.0) << x;
    logits.push_back(std::log(x / (1 - x)));
  }
  // t = sigmoid(n): its moments by quadrature, and logit(t) = n is N(0, 1) (4th moment 3).
  const Moments ref =
      normal_expectation_moments([](double n) { return 1.0 / (1.0 + std::exp(-n)); });
  EXPECT_NEAR(ref.mean, 0.5, 1e-12);
  EXPECT_GT(ref.var, 0.04);  // well below the uniform's 1/12: the mass sits near t = 1/2
  EXPECT_LT(ref.var, 0.05);
  expect_moments(v, ref, "logit-normal t");
  // f32 rounding of t near 0 and 1 moves logit(t) by far less than the standard errors.
  expect_moments(logits, {0.0, 1.0, 3.0}, "logit(t)");
}

TEST(FlowMatching, TimestepDrawsComeFromTheGenerator) {
  for (TimestepSampling s : {TimestepSampling::uniform, TimestepSampling::logit_normal}) {
    Generator a(5), b(5);
    const auto first = sample_timesteps(16, s, a).to_vector<float>();
    EXPECT_EQ(first, sample_timesteps(16, s, b).to_vector<float>());
    EXPECT_NE(first, sample_timesteps(16, s, a).to_vector<float>()) << "the generator advances";
  }
}

TEST(FlowMatching, BadArgumentsAreRefused) {
  const Tensor x = test::uniform({2, 3}, 1);
  EXPECT_TRUE(contains(
      error_message([&] { euler_integrate(x, 0, [](const Tensor& y, double) { return y; }); }),
      "Euler steps must be positive, got 0"));
  EXPECT_TRUE(contains(error_message([&] { interpolate(x, x, test::uniform({3}, 2)); }),
                       "timesteps must be [B]"));
  EXPECT_TRUE(contains(error_message([&] {
                         flow_matching_loss(test::uniform({3, 2}, 1), x, x);
                       }),
                       "predicted velocity"));
  const std::string m = error_message([] { parse_timestep_sampling("cosine", "<t>: setting"); });
  EXPECT_TRUE(contains(m, "<t>: setting must be \"logit_normal\" or \"uniform\", got \"cosine\""))
      << m;
  EXPECT_EQ(parse_timestep_sampling("uniform", "s"), TimestepSampling::uniform);
  EXPECT_STREQ(timestep_sampling_name(TimestepSampling::logit_normal), "logit_normal");
  Generator gen(1);
  EXPECT_TRUE(contains(error_message([&] { sample_timesteps(0, TimestepSampling::uniform, gen); }),
                       "must be positive"));
}
