// Sizes that overflow 64 bits or cannot be allocated give an Error that names what asked for them,
// never a wrapped-around allocation or a bare std::bad_alloc.
#include <gtest/gtest.h>

#include <limits>

#include "check.h"

using namespace xomni;
using test::contains;
using test::error_message;

namespace {
constexpr int64_t k2_32 = int64_t(1) << 32;
constexpr int64_t k2_62 = int64_t(1) << 62;
}  // namespace

TEST(Sizes, CheckedArithmeticNamesWhatOverflows) {
  EXPECT_EQ(checked_mul(k2_32, 4, "x"), int64_t(1) << 34);
  EXPECT_EQ(checked_add(k2_62, k2_62 - 1, "x"), std::numeric_limits<int64_t>::max());
  std::string m = error_message([] { checked_mul(k2_32, k2_32, "KV cache"); });
  EXPECT_TRUE(contains(m, "KV cache")) << m;
  EXPECT_TRUE(contains(m, "overflows 64 bits")) << m;
  m = error_message([] { checked_add(k2_62, k2_62, "token count"); });
  EXPECT_TRUE(contains(m, "token count")) << m;
  m = error_message([] { checked_numel({k2_32, k2_32}, "tensor 'w'"); });
  EXPECT_TRUE(contains(m, "tensor 'w'")) << m;
  EXPECT_TRUE(contains(m, "[4294967296, 4294967296]")) << m;
  m = error_message([] { checked_numel({3, -1}, "tensor 'w'"); });
  EXPECT_TRUE(contains(m, "negative")) << m;
  // The element count fits but the byte count does not.
  m = error_message([] { checked_nbytes({k2_62}, 4, "buffer"); });
  EXPECT_TRUE(contains(m, "buffer")) << m;
  EXPECT_EQ(checked_nbytes({k2_32, 2}, 8, "x"), int64_t(1) << 36);
  EXPECT_EQ(checked_numel({0, k2_62, k2_62}, "x"), 0);  // an empty tensor is fine
  EXPECT_TRUE(contains(error_message([] { shape_numel({k2_32, k2_32}); }), "overflows"));
}

TEST(Sizes, TensorWhoseSizeOverflowsIsRefusedNamingTheShape) {
  for (const Shape& s : {Shape{k2_32, k2_32}, Shape{k2_62, 4}, Shape{k2_62, 2, 2}}) {
    const std::string m = error_message([&] { Tensor::empty(s); });
    EXPECT_TRUE(contains(m, "Tensor::empty")) << m;
    EXPECT_TRUE(contains(m, shape_str(s))) << m;
    EXPECT_TRUE(contains(m, "64 bits")) << m;
  }
  // 2^61 elements: the count fits in 64 bits, the 8-byte elements' bytes do not.
  EXPECT_TRUE(
      contains(error_message([] { Tensor::zeros({int64_t(1) << 61}, DType::f64); }), "64 bits"));
  EXPECT_TRUE(contains(error_message([] { Tensor::empty({4, -2}); }), "negative"));
}

// reshape's -1 is inferred from the product of the other sizes, which must not wrap around first
// (2^32 x 2^32 wraps to 0 and used to be refused only by accident, or accepted for other sizes).
TEST(Sizes, ReshapeWhoseKnownSizesOverflowIsRefused) {
  const Tensor t = Tensor::zeros({4});
  const std::string m = error_message([&] { reshape(t, {k2_32, k2_32, -1}); });
  EXPECT_TRUE(contains(m, "reshape")) << m;
  EXPECT_TRUE(contains(m, "64 bits")) << m;
  EXPECT_EQ(reshape(t, {2, -1}).shape(), (Shape{2, 2}));
}

TEST(Sizes, AllocationBeyondAnyMemoryNamesBytesAndShape) {
  // 2^59 f32 elements = 2 EiB: refused by the allocator before asking the system.
  const Shape s{int64_t(1) << 29, int64_t(1) << 30};
  const std::string m = error_message([&] { Tensor::empty(s); });
  EXPECT_TRUE(contains(m, "out of memory")) << m;
  EXPECT_TRUE(contains(m, "2.0 EiB")) << m;
  EXPECT_TRUE(contains(m, "f32 " + shape_str(s))) << m;
  EXPECT_EQ(human_bytes(512), "512 bytes");
  EXPECT_EQ(human_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
}
