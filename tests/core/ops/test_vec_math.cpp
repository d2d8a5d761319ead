// The vectorisable float exp used by softmax, cross-entropy and attention.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/cpu/vec_math.h"

TEST(VecMath, ExpApproxRelativeError) {
  double worst = 0;
  for (float x = -87.0f; x < 88.6f; x += 0.00731f) {
    const double ref = std::exp(double(x));
    worst = std::max(worst, std::abs(double(xomni::exp_approx(x)) - ref) / ref);
  }
  EXPECT_LT(worst, 4e-7);  // a few ulp
  EXPECT_EQ(xomni::exp_approx(0.0f), 1.0f);
  EXPECT_EQ(xomni::exp_approx(-200.0f), 0.0f);
  EXPECT_TRUE(std::isinf(xomni::exp_approx(100.0f)));
  EXPECT_EQ(xomni::exp_approx(-INFINITY), 0.0f);
}

TEST(VecMath, TanhAndErfAbsoluteError) {
  double wt = 0, we = 0;
  for (float x = -12.0f; x < 12.0f; x += 0.00137f) {
    wt = std::max(wt, std::abs(double(xomni::tanh_approx(x)) - std::tanh(double(x))));
    we = std::max(we, std::abs(double(xomni::erf_approx(x)) - std::erf(double(x))));
  }
  EXPECT_LT(wt, 3e-7);
  // A&S 7.1.26 is 1.5e-7 in exact arithmetic; in float we measured 3.85e-7 with FMA
  // contraction (-O3) and 4.10e-7 without (-O0, the sanitizer build).
  EXPECT_LT(we, 4.5e-7);
  EXPECT_EQ(xomni::tanh_approx(0.0f), 0.0f);
  EXPECT_EQ(xomni::tanh_approx(30.0f), 1.0f);
  EXPECT_EQ(xomni::tanh_approx(-30.0f), -1.0f);
}
