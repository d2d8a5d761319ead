// The bf16 GEMM (bf16_gemm.h) against an exact reference: the same inputs rounded to bf16 by
// float_to_bf16, multiplied and summed in f64. The kernel's products of bf16 values are exact in
// fp32, so it may differ only by fp32 summation error, at most (k + 2) * 2^-24 * (sum |a b| +
// |c0|) per element (the recursive-summation bound); one wrong, missing or unrounded term is far
// above that. Every transpose combination, beta 0 and 1, strided leading dims, sizes that are
// not multiples of the 16/32 tiles. Then matmul/linear under MatmulPrecision::bf16, and the
// forced fp32 fallback (XOMNI_DISABLE_BF16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "check.h"
#include "xomni/core/ops/matmul_precision.h"
#include "xomni/core/ops/ops.h"

using namespace xomni;

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

double bf16_value(float x) {
  return double(bf16_to_float(float_to_bf16(x)));
}

struct Case {
  int64_t m, n, k;
};

// The kernels this CPU can run: the detected one and, on an AMX CPU, AVX512-BF16 as well.
std::vector<Bf16Kernel> kernels_here() {
  const Bf16Kernel k = bf16_kernel_detected();
  if (k == Bf16Kernel::amx) return {Bf16Kernel::amx, Bf16Kernel::avx512_bf16};
  if (k == Bf16Kernel::avx512_bf16) return {k};
  return {};
}

// Runs one GEMM and checks every element of C against the f64 reference; returns the number of
// elements over the bound (reported by the EXPECTs).
void check_gemm(Bf16Kernel kernel, bool ta, bool tb, const Case& s, float beta, int64_t pad) {
  const int64_t m = s.m, n = s.n, k = s.k;
  // Stored shapes: A [m, k] or [k, m]; B [k, n] or [n, k]; each row `pad` elements longer.
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  const auto a = random_floats(size_t(a_rows * lda), uint32_t(m * 7 + n * 3 + k));
  const auto b = random_floats(size_t(b_rows * ldb), uint32_t(m + n * 5 + k * 11));
  const auto c0 = random_floats(size_t(m * ldc), uint32_t(m * n + k));
  std::vector<float> c = c0;
  gemm_bf16(kernel, ta, tb, m, n, k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  auto at = [&](int64_t i, int64_t p) { return a[size_t(ta ? p * lda + i : i * lda + p)]; };
  auto bt = [&](int64_t p, int64_t j) { return b[size_t(tb ? j * ldb + p : p * ldb + j)]; };
  const double unit = std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at_c = size_t(i * ldc + j);
      if (j >= n) {  // the padding beside C is never written
        if (c[at_c] != c0[at_c]) ++bad;
        continue;
      }
      double ref = beta != 0 ? double(c0[at_c]) : 0.0, mag = std::abs(ref);
      for (int64_t p = 0; p < k; ++p) {
        const double t = bf16_value(at(i, p)) * bf16_value(bt(p, j));
        ref += t;
        mag += std::abs(t);
      }
      const double bound = double(k + 2) * unit * mag;
      if (std::abs(double(c[at_c]) - ref) > bound && ++bad <= 3)
        ADD_FAILURE() << bf16_kernel_name(kernel) << " ta " << ta << " tb " << tb << " m " << m
                      << " n " << n << " k " << k << " beta " << beta << " pad " << pad << ": C["
                      << i << "," << j << "] = " << c[at_c] << ", reference " << ref << " (bound "
                      << bound << ")";
    }
  EXPECT_EQ(bad, 0) << bf16_kernel_name(kernel) << " ta " << ta << " tb " << tb << " m " << m
                    << " n " << n << " k " << k << " beta " << beta;
}

}  // namespace

TEST(Bf16Gemm, MatchesTheRoundedF64ReferenceForEveryLayoutAndOddSizes) {
  const auto kernels = kernels_here();
  if (kernels.empty())
    GTEST_SKIP() << "no AMX/AVX512-BF16 on this CPU: " << bf16_unavailable_reason();
  const std::vector<Case> cases = {{1, 1, 1},      {15, 17, 33},   {17, 33, 15},  {33, 15, 17},
                                   {100, 257, 33}, {257, 100, 17}, {1, 257, 100}, {257, 1, 257},
                                   {33, 33, 257},  {32, 32, 32},   {64, 48, 96}};
  for (Bf16Kernel kernel : kernels)
    for (const Case& s : cases)
      for (int t = 0; t < 4; ++t)
        for (float beta : {0.0f, 1.0f}) check_gemm(kernel, t & 1, t & 2, s, beta, (t + 1) % 3 * 3);
}

TEST(Bf16Gemm, ZeroKGivesZeroOrLeavesC) {
  const auto kernels = kernels_here();
  if (kernels.empty())
    GTEST_SKIP() << "no AMX/AVX512-BF16 on this CPU: " << bf16_unavailable_reason();
  for (Bf16Kernel kernel : kernels) {
    std::vector<float> c(6, 5.0f);
    gemm_bf16(kernel, false, false, 2, 3, 0, nullptr, 1, nullptr, 3, 1.0f, c.data(), 3);
    EXPECT_EQ(c, std::vector<float>(6, 5.0f));
    gemm_bf16(kernel, false, false, 2, 3, 0, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
    EXPECT_EQ(c, std::vector<float>(6, 0.0f));
  }
}

// Below bf16's normal range both kernels count inputs as zero and flush results (the hardware's
// fixed DAZ/FTZ), where the f64 reference would not: the documented exception to the bound.
TEST(Bf16Gemm, SubnormalInputsAndResultsAreZero) {
  const auto kernels = kernels_here();
  if (kernels.empty())
    GTEST_SKIP() << "no AMX/AVX512-BF16 on this CPU: " << bf16_unavailable_reason();
  for (Bf16Kernel kernel : kernels) {
    const float a[2] = {1e-39f, 1e-20f}, b[2] = {1.0f, 1e-20f};
    float c[2] = {-1, -1};
    gemm_bf16(kernel, false, false, 1, 1, 1, a, 1, b, 1, 0.0f, c, 1);              // subnormal x 1
    gemm_bf16(kernel, false, false, 1, 1, 1, a + 1, 1, b + 1, 1, 0.0f, c + 1, 1);  // 1e-40
    EXPECT_EQ(c[0], 0.0f) << bf16_kernel_name(kernel);
    EXPECT_EQ(c[1], 0.0f) << bf16_kernel_name(kernel);
  }
}

// matmul and linear (forward and backward) run the bf16 kernel under MatmulPrecision::bf16: the
// result equals gemm_bf16 on the same operands bit for bit, and f64 tensors stay f64 (bitwise the
// fp32-mode result).
TEST(Bf16Gemm, MatmulAndLinearUseItUnderBf16Precision) {
  if (!bf16_unavailable_reason().empty())
    GTEST_SKIP() << "no bf16 GEMM here: " << bf16_unavailable_reason();
  const int64_t m = 19, k = 40, n = 23;
  const auto av = random_floats(size_t(m * k), 1), bv = random_floats(size_t(k * n), 2);
  const Tensor a = Tensor::from_vector(av, {m, k}), b = Tensor::from_vector(bv, {k, n});
  const Tensor a64 = a.to(DType::f64), b64 = b.to(DType::f64);
  const Tensor fp32 = matmul(a, b), fp64 = matmul(a64, b64);
  MatmulPrecisionScope scope(MatmulPrecision::bf16);
  ASSERT_EQ(scope.in_effect(), MatmulPrecision::bf16);
  std::vector<float> want(size_t(m * n));
  gemm_bf16(matmul_bf16_kernel(), false, false, m, n, k, av.data(), k, bv.data(), n, 0.0f,
            want.data(), n);
  EXPECT_EQ(matmul(a, b).to_vector<float>(), want);
  EXPECT_NE(fp32.to_vector<float>(), want);  // rounding the inputs changed it
  EXPECT_EQ(matmul(a64, b64).to_vector<double>(), fp64.to_vector<double>());

  // linear(x, W) = x W^T; its input gradient g W and weight gradient g^T x go through bf16 too.
  const Tensor w = Tensor::from_vector(random_floats(size_t(n * k), 3), {n, k});
  Tensor x = Tensor::from_vector(av, {m, k});
  Tensor wl = w.detach();
  x.set_requires_grad(true);
  wl.set_requires_grad(true);
  const Tensor y = linear(x, wl);
  std::vector<float> yw(size_t(m * n));
  gemm_bf16(matmul_bf16_kernel(), false, true, m, n, k, av.data(), k, w.data<float>(), k, 0.0f,
            yw.data(), n);
  EXPECT_EQ(y.to_vector<float>(), yw);
  const auto gv = random_floats(size_t(m * n), 4);
  y.backward(Tensor::from_vector(gv, {m, n}));
  std::vector<float> gx(size_t(m * k)), gw(size_t(n * k));
  gemm_bf16(matmul_bf16_kernel(), false, false, m, k, n, gv.data(), n, w.data<float>(), k, 0.0f,
            gx.data(), k);
  gemm_bf16(matmul_bf16_kernel(), true, false, n, k, m, gv.data(), n, av.data(), k, 0.0f, gw.data(),
            k);
  EXPECT_EQ(x.grad().to_vector<float>(), gx);
  EXPECT_EQ(wl.grad().to_vector<float>(), gw);
}

// XOMNI_DISABLE_BF16=1 forces the fallback: asking for bf16 warns once and runs fp32, bit for bit
// the fp32 result; setting bf16 outright is refused with the reason.
TEST(Bf16Gemm, DisabledByTheEnvironmentFallsBackToFp32WithAWarning) {
  ::setenv("XOMNI_DISABLE_BF16", "1", 1);
  const Tensor a = Tensor::from_vector(random_floats(37 * 50, 5), {37, 50});
  const Tensor b = Tensor::from_vector(random_floats(50 * 29, 6), {50, 29});
  const std::vector<float> fp32 = matmul(a, b).to_vector<float>();
  testing::internal::CaptureStderr();
  {
    MatmulPrecisionScope scope(MatmulPrecision::bf16);
    EXPECT_EQ(scope.in_effect(), MatmulPrecision::fp32);
    EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
    EXPECT_EQ(matmul(a, b).to_vector<float>(), fp32);
    MatmulPrecisionScope again(MatmulPrecision::bf16);  // warned once only
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: bf16 matmul precision is not available (XOMNI_DISABLE_BF16=1 is "
                     "set); running fp32"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("warning"), err.rfind("warning")) << err;
  const std::string m = test::error_message([] { set_matmul_precision(MatmulPrecision::bf16); });
  EXPECT_NE(m.find("XOMNI_DISABLE_BF16=1 is set"), std::string::npos) << m;
  ::unsetenv("XOMNI_DISABLE_BF16");
}
