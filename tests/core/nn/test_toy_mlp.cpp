// A small MLP learns a 3-class spiral with plain SGD + momentum written here (the optimizers
// proper belong to the nn layer). Checks that the engine's gradients actually train.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"

using namespace xomni;

namespace {
// 3 interleaved spiral arms, 60 points each, in 2-D.
void make_spiral(Tensor& x, Tensor& y) {
  const int per_class = 60, classes = 3;
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int c = 0; c < classes; ++c)
    for (int i = 0; i < per_class; ++i) {
      const double r = double(i) / per_class;
      const double t = c * 4.0 + 4.0 * r + 0.1 * std::sin(13.0 * i);
      xs.push_back(float(r * std::sin(t)));
      xs.push_back(float(r * std::cos(t)));
      ys.push_back(c);
    }
  x = Tensor::from_vector(xs, {per_class * classes, 2});
  y = Tensor::from_vector(ys, {per_class * classes});
}

Tensor init(const Shape& shape, uint64_t seed, double scale) {
  Generator g(seed);
  Tensor t = mul(randn(shape, g), scale).detach();
  t.set_requires_grad();
  return t;
}
}  // namespace

TEST(ToyTraining, MlpFitsSpiral) {
  Tensor x, y;
  make_spiral(x, y);
  std::vector<Tensor> params = {init({64, 2}, 1, 1.0),      Tensor::zeros({64}),
                                init({64, 64}, 2, 1.0 / 8), Tensor::zeros({64}),
                                init({3, 64}, 3, 1.0 / 8),  Tensor::zeros({3})};
  for (size_t i = 1; i < params.size(); i += 2) params[i].set_requires_grad();
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(Tensor::zeros(p.shape()));

  double first = 0, last = 0;
  for (int step = 0; step < 400; ++step) {
    Tensor h = gelu(linear(x, params[0], params[1]));
    h = gelu(linear(h, params[2], params[3]));
    Tensor loss = cross_entropy(linear(h, params[4], params[5]), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      velocity[i].copy_(add(mul(velocity[i], 0.9), params[i].grad()));
      params[i].copy_(sub(params[i], mul(velocity[i], 0.1)));
    }
  }
  EXPECT_GT(first, 1.0);  // ~ln 3 at the start
  EXPECT_LT(last, 0.1) << "MLP did not fit the spiral: loss " << first << " -> " << last;
}
