// Golden Tensor::to conversions between f32, f64, bf16 and f16 against PyTorch 1.13
// (fixtures/convert.xtf, make_fixtures.py). The values cover random magnitudes across the
// ranges, exact rounding ties, f16 subnormals, overflow to inf, underflow to zero, signed zeros,
// infinities and NaN, plus random bit patterns. Tolerance: none, the bits must be equal; only
// NaN is compared as "is NaN" (payloads are not specified). f64 -> bf16/f16 rounds twice (via
// f32) in PyTorch, and the fixture holds values where that differs from a single rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "check.h"

using namespace xomni;

namespace {
const test::Fixture& fixture() {
  static const test::Fixture fx = test::load_fixture("convert");
  return fx;
}

DType parse(const std::string& s) {
  if (s == "f32") return DType::f32;
  if (s == "f64") return DType::f64;
  if (s == "bf16") return DType::bf16;
  if (s == "f16") return DType::f16;
  throw Error("unknown dtype " + s);
}

// Element i's bytes.
uint64_t bits_at(const Tensor& c, int64_t i) {
  uint64_t b = 0;
  const size_t n = dtype_size(c.dtype());
  std::memcpy(&b, static_cast<const char*>(c.raw_data()) + size_t(i) * n, n);
  return b;
}

// Number of elements whose bits differ (NaN matches any NaN); prints the first few.
int64_t count_mismatches(const Tensor& src, const Tensor& actual, const Tensor& expected,
                         const std::string& what) {
  EXPECT_EQ(actual.dtype(), expected.dtype()) << what;
  EXPECT_EQ(actual.shape(), expected.shape()) << what;
  const Tensor a = actual.contiguous(), e = expected.contiguous();
  const std::vector<double> av = a.to_vector<double>(), ev = e.to_vector<double>();
  const std::vector<double> sv = src.to_vector<double>();
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(av[size_t(i)]) && std::isnan(ev[size_t(i)])) continue;
    if (bits_at(a, i) == bits_at(e, i)) continue;
    if (++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: source " << sv[size_t(i)] << " (bits 0x" << std::hex
                    << bits_at(src.contiguous(), i) << ") converts to 0x" << bits_at(a, i) << " ("
                    << std::dec << av[size_t(i)] << "), PyTorch gives 0x" << std::hex
                    << bits_at(e, i) << std::dec << " (" << ev[size_t(i)] << ")";
  }
  return bad;
}
}  // namespace

TEST(GoldenConvert, BitsMatchPyTorch) {
  int cases = 0;
  for (const auto& [key, x] : fixture()) {
    if (key.size() < 2 || key.substr(key.size() - 2) != ".x") continue;
    const std::string name = key.substr(0, key.size() - 2);
    const DType src = parse(name.substr(0, name.find('_')));
    const DType dst = parse(name.substr(name.find('_') + 1));
    ASSERT_EQ(x.dtype(), src) << name;
    const Tensor& ref = test::fixture_get(fixture(), name + ".out");
    EXPECT_EQ(count_mismatches(x, x.to(dst), ref, name), 0) << name;
    // A strided source (every other element) converts the same way.
    const int64_t n = x.numel();
    EXPECT_EQ(count_mismatches(slice(x, 0, 1, n, 2), slice(x, 0, 1, n, 2).to(dst),
                               slice(ref, 0, 1, n, 2), name + " strided"),
              0)
        << name;
    ++cases;
  }
  EXPECT_EQ(cases, 12);
}

TEST(GoldenConvert, CloneAndSameDtypeKeepBits) {
  for (const char* name : {"f32_f64", "f64_f32", "bf16_f32", "f16_f32"}) {
    const Tensor& x = test::fixture_get(fixture(), std::string(name) + ".x");
    EXPECT_EQ(count_mismatches(x, x.clone(), x, std::string(name) + " clone"), 0);
    EXPECT_EQ(count_mismatches(x, x.to(x.dtype()), x, std::string(name) + " to(same)"), 0);
    const Tensor c = slice(x, 0, 0, x.numel(), 3).clone();
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_FALSE(c.same_storage(x));
    EXPECT_EQ(
        count_mismatches(c, c, slice(x, 0, 0, x.numel(), 3), std::string(name) + " strided clone"),
        0);
  }
}
