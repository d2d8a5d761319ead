// Tensor basics: views, strides, conversions, errors.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;

TEST(Tensor, FactoriesAndItem) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.numel(), 6);
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(sum(z).item(), 0.0);
  Tensor f = Tensor::full({4}, 2.5, DType::f64);
  EXPECT_DOUBLE_EQ(sum(f).item(), 10.0);
  Tensor a = Tensor::arange(5);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Tensor, ViewsShareStorage) {
  Tensor a = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = transpose(a, 0, 1);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_TRUE(t.same_storage(a));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor s = slice(a, 1, 1, 3);
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  s.fill_(9);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0, 9, 9, 3, 9, 9}));
  Tensor st = slice(Tensor::arange(10).to(DType::f32), 0, 1, 10, 3);
  EXPECT_EQ(st.to_vector<float>(), (std::vector<float>{1, 4, 7}));
}

TEST(Tensor, ReshapeViewsWhenPossibleAndCopiesOtherwise) {
  Tensor a = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2});
  Tensor v = reshape(a, {4, 2});
  EXPECT_TRUE(v.same_storage(a));
  Tensor p = permute(a, {2, 0, 1});
  EXPECT_THROW(view(p, {8}), Error);
  Tensor r = reshape(p, {-1});
  EXPECT_FALSE(r.same_storage(a));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
  // A merge that is legal on a non-contiguous view: [2,2,2] sliced on the last dim.
  Tensor s = slice(a, 2, 0, 1);  // [2,2,1] with strides [4,2,2]
  Tensor m = view(s, {4});
  EXPECT_TRUE(m.same_storage(a));
  EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{0, 2, 4, 6}));
}

TEST(Tensor, Conversions) {
  Tensor a = Tensor::from_vector<float>({1.0f, -2.5f, 3.140625f, 65504.0f, 1e-7f}, {5});
  EXPECT_EQ(a.to(DType::bf16).to(DType::f32).to_vector<float>()[2], 3.140625f);
  std::vector<float> h = a.to(DType::f16).to(DType::f32).to_vector<float>();
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_NEAR(h[4], 1e-7f, 6e-8f);  // subnormal half
  EXPECT_EQ(Tensor::from_vector<float>({2.7f, -1.2f}, {2}).to(DType::i32).to_vector<int32_t>(),
            (std::vector<int32_t>{2, -1}));
  // bf16 rounds to nearest even
  EXPECT_EQ(float_to_bf16(1.00390625f).bits, float_to_bf16(1.0f).bits);
}

TEST(Tensor, ErrorsNameTheOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  try {
    add(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 5]"), std::string::npos) << msg;
  }
  try {
    mul(a, Tensor::zeros({2, 3}, DType::f64));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(exp(Tensor::zeros({2}, DType::bf16)), Error);
  EXPECT_THROW(Tensor::empty({2}, DType::f32, Device::cuda(0)), Error);
}

TEST(Tensor, BroadcastingBinaryOps) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3, 1});
  Tensor b = Tensor::from_vector<float>({10, 20}, {2});
  EXPECT_EQ(add(a, b).shape(), (Shape{3, 2}));
  EXPECT_EQ(add(a, b).to_vector<float>(), (std::vector<float>{11, 21, 12, 22, 13, 23}));
}

TEST(Tensor, EmptyTensorsAreContiguousAndFillable) {
  Tensor e = Tensor::full({2, 0, 3}, 1.5);
  EXPECT_TRUE(e.is_contiguous());
  EXPECT_EQ(e.numel(), 0);
  Tensor t = transpose(e, 0, 2);
  t.fill_(2.0);  // a strided view with no elements
  EXPECT_EQ(sum(t).item(), 0.0);
  EXPECT_EQ(add(e, e).shape(), (Shape{2, 0, 3}));
}
