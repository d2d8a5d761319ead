// Learning-rate schedules against their closed forms, at boundaries and in between.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "check.h"
#include "xomni/core/nn/lr_schedule.h"

using namespace xomni;

namespace {
constexpr double kTol = 1e-15;
LrScheduleOptions opts(LrDecay d, int64_t warmup, int64_t total, double min_lr = 0.0) {
  LrScheduleOptions o;
  o.decay = d;
  o.lr = 0.5;
  o.min_lr = min_lr;
  o.warmup_steps = warmup;
  o.total_steps = total;
  return o;
}
}  // namespace

TEST(LrSchedule, ConstantWithAndWithoutWarmup) {
  LrSchedule plain(opts(LrDecay::constant, 0, 0));
  for (int64_t s : {0, 1, 100, 1000000}) EXPECT_EQ(plain.lr_at(s), 0.5);
  LrSchedule warm(opts(LrDecay::constant, 4, 0));
  EXPECT_NEAR(warm.lr_at(0), 0.5 * 1 / 4, kTol);  // the first update already moves
  EXPECT_NEAR(warm.lr_at(1), 0.5 * 2 / 4, kTol);
  EXPECT_NEAR(warm.lr_at(3), 0.5, kTol);  // peak at the last warmup step
  EXPECT_EQ(warm.lr_at(4), 0.5);
  EXPECT_EQ(warm.lr_at(50), 0.5);
}

TEST(LrSchedule, CosineToMinLr) {
  // W = 10, T = 110, min 0.05: p = (s - 10) / 100.
  LrSchedule s(opts(LrDecay::cosine, 10, 110, 0.05));
  auto ref = [](int64_t step) {
    const double p = std::min(1.0, (double(step) - 10) / 100);
    return 0.05 + 0.45 * 0.5 * (1 + std::cos(std::numbers::pi * p));
  };
  EXPECT_NEAR(s.lr_at(0), 0.05, kTol);  // 0.5 * 1/10
  EXPECT_NEAR(s.lr_at(9), 0.5, kTol);
  EXPECT_NEAR(s.lr_at(10), 0.5, kTol);    // decay starts at the peak
  EXPECT_NEAR(s.lr_at(60), 0.275, kTol);  // halfway: the mean of peak and floor
  for (int64_t step : {11, 35, 60, 85, 109}) EXPECT_NEAR(s.lr_at(step), ref(step), kTol) << step;
  EXPECT_NEAR(s.lr_at(110), 0.05, kTol);
  EXPECT_NEAR(s.lr_at(5000), 0.05, kTol);  // beyond the end: the floor
}

TEST(LrSchedule, LinearToZero) {
  LrSchedule s(opts(LrDecay::linear, 0, 200));
  EXPECT_EQ(s.lr_at(0), 0.5);
  EXPECT_NEAR(s.lr_at(50), 0.375, kTol);
  EXPECT_NEAR(s.lr_at(100), 0.25, kTol);
  EXPECT_NEAR(s.lr_at(199), 0.5 / 200, kTol);
  EXPECT_EQ(s.lr_at(200), 0.0);
  EXPECT_EQ(s.lr_at(201), 0.0);
  // With warmup: the linear part spans T - W.
  LrSchedule w(opts(LrDecay::linear, 20, 120));
  EXPECT_NEAR(w.lr_at(19), 0.5, kTol);
  EXPECT_NEAR(w.lr_at(20), 0.5, kTol);
  EXPECT_NEAR(w.lr_at(70), 0.25, kTol);
  EXPECT_NEAR(w.lr_at(120), 0.0, kTol);
}

TEST(LrSchedule, WarmupStableDecayLinearAndCosine) {
  // T = 100, decay over the last 20% (S = 80, D = 20), W = 10, floor 0.1.
  LrScheduleOptions o = opts(LrDecay::wsd, 10, 100, 0.1);
  o.decay_fraction = 0.2;
  LrSchedule lin(o);
  EXPECT_NEAR(lin.lr_at(4), 0.25, kTol);
  EXPECT_EQ(lin.lr_at(10), 0.5);
  EXPECT_EQ(lin.lr_at(79), 0.5);          // the last stable step
  EXPECT_NEAR(lin.lr_at(80), 0.5, kTol);  // decay starts at the peak
  EXPECT_NEAR(lin.lr_at(85), 0.1 + 0.4 * 0.75, kTol);
  EXPECT_NEAR(lin.lr_at(90), 0.3, kTol);
  EXPECT_NEAR(lin.lr_at(99), 0.1 + 0.4 * 0.05, kTol);
  EXPECT_NEAR(lin.lr_at(100), 0.1, kTol);
  EXPECT_NEAR(lin.lr_at(1000), 0.1, kTol);
  o.wsd_shape = WsdShape::cosine;
  LrSchedule cos(o);
  EXPECT_EQ(cos.lr_at(79), 0.5);
  for (int64_t step : {80, 83, 90, 97, 100, 150}) {
    const double q = std::min(1.0, (double(step) - 80) / 20);
    EXPECT_NEAR(cos.lr_at(step), 0.1 + 0.4 * 0.5 * (1 + std::cos(std::numbers::pi * q)), kTol)
        << step;
  }
}

TEST(LrSchedule, InvalidSettingsAreErrors) {
  auto msg = [](LrScheduleOptions o) { return test::error_message([&] { LrSchedule s(o); }); };
  EXPECT_NE(msg(opts(LrDecay::cosine, 10, 10)).find("total_steps (10) must exceed warmup_steps"),
            std::string::npos);
  EXPECT_NE(msg(opts(LrDecay::cosine, 0, 10, 0.9)).find("min_lr"), std::string::npos);
  LrScheduleOptions o = opts(LrDecay::wsd, 90, 100);
  o.decay_fraction = 0.2;
  EXPECT_NE(msg(o).find("overlaps the warmup"), std::string::npos);
  EXPECT_NE(test::error_message([] { parse_lr_decay("cosin"); }).find("'cosin'"),
            std::string::npos);
  EXPECT_EQ(parse_lr_decay("wsd"), LrDecay::wsd);
  EXPECT_EQ(parse_wsd_shape("cosine"), WsdShape::cosine);
}
