// Gradients through Tensor::to. f64 -> f64 is checked by finite differences (test::gradcheck,
// 1e-6). A round trip through f32 is checked by finite differences too, on inputs that are
// multiples of 2^-10 with eps = 2^-10 so that x and x +- eps are exact in f32 and the quadratic
// test function has exact central differences. The cast's own gradient (g converted back to the
// source dtype) is checked exactly against a closed form.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

TEST(GradcheckConvert, SameDtype) {
  Tensor x = test::uniform({3, 4}, 1).set_requires_grad(true);
  test::gradcheck([](const V& v) { return mul(v[0].to(DType::f64), v[0]); }, {x});
}

TEST(GradcheckConvert, RoundTripThroughF32) {
  std::vector<double> grid(12);
  for (size_t i = 0; i < grid.size(); ++i) grid[i] = std::ldexp(double(int(i * 37 % 23) - 11), -4);
  Tensor x = Tensor::from_vector(grid, {3, 4}).set_requires_grad(true);
  test::gradcheck(
      [](const V& v) {
        Tensor y = v[0].to(DType::f32);
        return mul(mul(y, y).to(DType::f64), 0.5);  // y*y in f32 is exact for these values
      },
      {x}, std::ldexp(1.0, -10));
}

TEST(GradcheckConvert, CastGradientIsTheConvertedUpstream) {
  // f32 leaf -> f64 output: x.grad == g (exactly representable in f32 by construction).
  Tensor x = test::uniform({2, 5}, 1, DType::f32).set_requires_grad(true);
  Tensor g64 = test::uniform({2, 5}, 2, DType::f32).to(DType::f64);
  Tensor y = x.to(DType::f64);
  EXPECT_EQ(y.dtype(), DType::f64);
  y.backward(g64);
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().to_vector<double>(), g64.to_vector<double>());
  // f64 leaf -> f32 output: x.grad == g widened, exactly.
  Tensor z = test::uniform({2, 5}, 3).set_requires_grad(true);
  Tensor g32 = test::uniform({2, 5}, 4, DType::f32);
  Tensor w = transpose(reshape(z, {5, 2}), 0, 1).to(DType::f32);
  w.backward(g32);
  ASSERT_TRUE(z.grad().defined());
  EXPECT_EQ(z.grad().dtype(), DType::f64);
  EXPECT_EQ(transpose(reshape(z.grad(), {5, 2}), 0, 1).to_vector<double>(),
            g32.to_vector<double>());
}
