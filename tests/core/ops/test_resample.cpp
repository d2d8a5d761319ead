// upsample_nearest2d and avg_pool2d against plain loops in double, closed-form backwards,
// finite differences, views and errors. Tolerances: scaled max error 1e-12 for f64 and 1e-5 for
// f32 (nearest upsampling is a copy, so it is checked for exact equality); gradcheck's 1e-6.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;

namespace {

Tensor ref_upsample(const Tensor& x, int64_t f) {
  const Shape s = x.shape();
  const int64_t P = s[0] * s[1], H = s[2], W = s[3];
  const std::vector<double> xv = x.to_vector<double>();
  std::vector<double> y(size_t(P * H * f * W * f));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oh = 0; oh < H * f; ++oh)
      for (int64_t ow = 0; ow < W * f; ++ow)
        y[size_t((p * H * f + oh) * W * f + ow)] = xv[size_t((p * H + oh / f) * W + ow / f)];
  return Tensor::from_vector(y, {s[0], s[1], H * f, W * f});
}

Tensor ref_avg_pool(const Tensor& x, int64_t f) {
  const Shape s = x.shape();
  const int64_t P = s[0] * s[1], H = s[2], W = s[3], OH = H / f, OW = W / f;
  const std::vector<double> xv = x.to_vector<double>();
  std::vector<double> y(size_t(P * OH * OW));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        y[size_t((p * OH + h / f) * OW + w / f)] += xv[size_t((p * H + h) * W + w)] / double(f * f);
  return Tensor::from_vector(y, {s[0], s[1], OH, OW});
}

}  // namespace

TEST(Resample, UpsampleMatchesReference) {
  uint64_t seed = 1;
  for (int64_t f : {1, 2, 3})
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor x = test::uniform({2, 3, 5, 4}, seed++, dt);
      Tensor y = upsample_nearest2d(x, f);
      EXPECT_EQ(y.shape(), (Shape{2, 3, 5 * f, 4 * f}));
      EXPECT_EQ(y.to_vector<double>(), ref_upsample(x, f).to_vector<double>()) << "factor " << f;
    }
}

TEST(Resample, AvgPoolMatchesReference) {
  uint64_t seed = 10;
  for (int64_t f : {1, 2, 3})
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor x = test::uniform({2, 3, 3 * f, 2 * f}, seed++, dt);
      test::expect_close(avg_pool2d(x, f), ref_avg_pool(x, f), dt == DType::f64 ? 1e-12 : 1e-5,
                         "factor " + std::to_string(f) + " " + dtype_name(dt));
    }
}

TEST(Resample, BackwardsInClosedForm) {
  // upsample's backward sums each f x f block; avg_pool's spreads g / (f*f).
  Tensor x = test::uniform_leaf({2, 2, 3, 5}, 20);
  Tensor g = test::uniform({2, 2, 6, 10}, 21);
  upsample_nearest2d(x, 2).backward(g);
  test::expect_close(x.grad(), mul(ref_avg_pool(g, 2), 4.0), 1e-12, "upsample backward");

  Tensor z = test::uniform_leaf({2, 2, 9, 6}, 22);
  Tensor gz = test::uniform({2, 2, 3, 2}, 23);
  avg_pool2d(z, 3).backward(gz);
  test::expect_close(z.grad(), mul(ref_upsample(gz, 3), 1.0 / 9.0), 1e-12, "avg_pool backward");
}

TEST(Resample, Gradcheck) {
  Tensor x = test::uniform_leaf({2, 3, 3, 4}, 30);
  EXPECT_LE(test::gradcheck(
                [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 3); }, {x}),
            1e-6);
  Tensor z = test::uniform_leaf({2, 3, 6, 4}, 31);
  EXPECT_LE(
      test::gradcheck([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 2); }, {z}),
      1e-6);
}

TEST(Resample, NonContiguousInput) {
  Tensor stored = test::uniform({2, 6, 4, 3}, 40);  // N, H, W, C
  Tensor x = permute(stored, {0, 3, 1, 2});
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_EQ(upsample_nearest2d(x, 2).to_vector<double>(),
            ref_upsample(x.contiguous(), 2).to_vector<double>());
  test::expect_close(avg_pool2d(x, 2), ref_avg_pool(x.contiguous(), 2), 1e-12, "avg_pool view");
  Tensor xs = stored.clone().set_requires_grad(true);
  EXPECT_LE(test::gradcheck(
                [](const std::vector<Tensor>& in) {
                  return avg_pool2d(upsample_nearest2d(permute(in[0], {0, 3, 1, 2}), 3), 2);
                },
                {xs}),
            1e-6);
}

TEST(Resample, DeterministicBitwise) {
  auto run = [] {
    Tensor x = test::uniform({2, 8, 24, 20}, 50, DType::f32).set_requires_grad(true);
    Tensor y = upsample_nearest2d(avg_pool2d(x, 4), 2);
    y.backward(test::uniform(y.shape(), 51, DType::f32));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>()};
  };
  const auto a = run(), b = run();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "result " << i << " differs";
}

TEST(Resample, Errors) {
  std::string m = test::error_message([] { avg_pool2d(Tensor::zeros({1, 2, 6, 5}), 2); });
  EXPECT_NE(m.find("avg_pool2d"), std::string::npos) << m;
  EXPECT_NE(m.find("[1, 2, 6, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("divisible"), std::string::npos) << m;
  m = test::error_message([] { upsample_nearest2d(Tensor::zeros({2, 6, 5}), 2); });
  EXPECT_NE(m.find("upsample_nearest2d"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 6, 5]"), std::string::npos) << m;
  m = test::error_message([] { upsample_nearest2d(Tensor::zeros({1, 1, 2, 2}), 0); });
  EXPECT_NE(m.find("factor"), std::string::npos) << m;
  m = test::error_message([] { avg_pool2d(Tensor::zeros({1, 1, 2, 2}, DType::i32), 2); });
  EXPECT_NE(m.find("avg_pool2d"), std::string::npos) << m;
}
