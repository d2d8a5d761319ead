// The AVX-512 GEMMs (ops/cpu/small_gemm.h) against a double-precision loop, on shapes that hit
// every tail (rows not a multiple of 6 or 4, columns not of 64 or 16, k not of 16), padded
// leading dimensions, beta 0 and 1; conv2d through them against conv2d through cblas; and the
// threaded gemm_f32 on each of its paths, with the same bits at any thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "check.h"
#include "ops/cpu/small_gemm.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"

using namespace xomni;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  return test::uniform({int64_t(n)}, seed, DType::f32).to_vector<float>();
}

// |got - want| within a few ulps of the sum of |terms| (f32 accumulation of k products).
void expect_near_sum(float got, double want, double abs_sum, int64_t k, const std::string& where) {
  const double tol = 4.0 * double(k + 1) * 6e-8 * abs_sum + 1e-30;
  EXPECT_LE(std::abs(double(got) - want), tol) << where << ": got " << got << ", want " << want;
}

// Every C[i, j] (row stride ldc) against beta C0[i, j] + sum_p A(i, p) B(p, j) in double.
template <typename AtA, typename AtB>
void expect_matches_reference(const std::vector<float>& c, const std::vector<float>& c0,
                              int64_t ldc, int64_t m, int64_t n, int64_t k, float beta, AtA a_at,
                              AtB b_at, const std::string& where) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = beta != 0 ? double(c0[size_t(i * ldc + j)]) : 0.0, mag = std::abs(want);
      for (int64_t p = 0; p < k; ++p) {
        const double t = double(a_at(i, p)) * double(b_at(p, j));
        want += t, mag += std::abs(t);
      }
      expect_near_sum(c[size_t(i * ldc + j)], want, mag, k, where);
    }
}

struct Shape3 {
  int64_t m, n, k;
};
const Shape3 kShapes[] = {{1, 1, 1},   {6, 64, 16}, {7, 65, 17},   {32, 200, 288},
                          {13, 3, 33}, {5, 130, 1}, {64, 48, 576}, {2, 1000, 7}};

}  // namespace

TEST(SmallGemm, RowsMatchesDoubleReference) {
  if (!cpu::small_gemm_supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  for (const Shape3& s : kShapes)
    for (bool a_trans : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        const int64_t lda = (a_trans ? s.m : s.k) + 3, ldb = s.n + 5, ldc = s.n + 2;
        const int64_t a_rows = a_trans ? s.k : s.m;
        const std::vector<float> a = random_floats(size_t(a_rows * lda), 1),
                                 b = random_floats(size_t(s.k * ldb), 2);
        std::vector<float> c = random_floats(size_t(s.m * ldc), 3);
        const std::vector<float> c0 = c;
        cpu::gemm_rows(a_trans, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        expect_matches_reference(
            c, c0, ldc, s.m, s.n, s.k, beta,
            [&](int64_t i, int64_t p) { return a[size_t(a_trans ? p * lda + i : i * lda + p)]; },
            [&](int64_t p, int64_t j) { return b[size_t(p * ldb + j)]; },
            "rows m" + std::to_string(s.m) + " n" + std::to_string(s.n) + " k" +
                std::to_string(s.k) + (a_trans ? " A^T" : "") + " beta " + std::to_string(beta));
        for (int64_t i = 0; i < s.m; ++i)
          for (int64_t j = s.n; j < ldc; ++j)  // the padding past n is not written
            ASSERT_EQ(c[size_t(i * ldc + j)], c0[size_t(i * ldc + j)]) << "row " << i;
      }
}

TEST(SmallGemm, DotsMatchesDoubleReference) {
  if (!cpu::small_gemm_supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  for (const Shape3& s : kShapes)
    for (float beta : {0.0f, 1.0f}) {
      const int64_t lda = s.k + 3, ldb = s.k + 1, ldc = s.n + 2;
      const std::vector<float> a = random_floats(size_t(s.m * lda), 4),
                               b = random_floats(size_t(s.n * ldb), 5);
      std::vector<float> c = random_floats(size_t(s.m * ldc), 6);
      const std::vector<float> c0 = c;
      cpu::gemm_dots(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      expect_matches_reference(
          c, c0, ldc, s.m, s.n, s.k, beta,
          [&](int64_t i, int64_t p) { return a[size_t(i * lda + p)]; },
          [&](int64_t p, int64_t j) { return b[size_t(j * ldb + p)]; },
          "dots m" + std::to_string(s.m) + " n" + std::to_string(s.n) + " k" + std::to_string(s.k) +
              " beta " + std::to_string(beta));
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = s.n; j < ldc; ++j)
          ASSERT_EQ(c[size_t(i * ldc + j)], c0[size_t(i * ldc + j)]) << "row " << i;
    }
}

// conv2d forward and all three gradients through the own kernels against the cblas path, on the
// flow decoder's 3x3 shape, a strided one and a patch embedding (kernel = stride).
TEST(SmallGemm, Conv2dMatchesCblasPath) {
  if (!cpu::small_gemm_supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  struct Case {
    int64_t n, c, o, hw, k, stride, pad;
  };
  for (const Case& cs : {Case{2, 8, 16, 19, 3, 1, 1}, Case{3, 5, 7, 17, 3, 2, 1},
                         Case{2, 3, 24, 16, 4, 4, 0}, Case{1, 32, 32, 33, 3, 1, 1}}) {
    auto run = [&](bool own) {
      cpu::set_small_gemm_enabled(own);
      Tensor x = test::uniform({cs.n, cs.c, cs.hw, cs.hw}, 11, DType::f32),
             w = test::uniform({cs.o, cs.c, cs.k, cs.k}, 12, DType::f32),
             b = test::uniform({cs.o}, 13, DType::f32);
      for (Tensor* t : {&x, &w, &b}) t->set_requires_grad();
      Tensor y = conv2d(x, w, b, cs.stride, cs.pad);
      Tensor gy = test::uniform(y.shape(), 14, DType::f32);
      y.backward(gy);
      cpu::set_small_gemm_enabled(true);
      return std::vector<Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
    };
    const std::vector<Tensor> own = run(true), ref = run(false);
    const char* names[] = {"y", "dx", "dw", "db"};
    for (size_t i = 0; i < own.size(); ++i)
      test::expect_close(own[i], ref[i], 2e-5,
                         std::string(names[i]) + " of conv k" + std::to_string(cs.k) + " s" +
                             std::to_string(cs.stride) + " c" + std::to_string(cs.c));
  }
}

namespace {
// C = beta C + op(A) op(B) through gemm_f32 on fresh random operands (every leading dimension
// padded), checked against the double loop when asked.
struct F32Case {
  bool ta, tb;
  int64_t m, n, k;
};
std::vector<float> run_gemm_f32(const F32Case& g, float beta, bool check_reference) {
  const int64_t lda = (g.ta ? g.m : g.k) + 3, ldb = (g.tb ? g.k : g.n) + 1, ldc = g.n + 2;
  const std::vector<float> a = random_floats(size_t((g.ta ? g.k : g.m) * lda), 7),
                           b = random_floats(size_t((g.tb ? g.n : g.k) * ldb), 8);
  std::vector<float> c = random_floats(size_t(g.m * ldc), 9);
  const std::vector<float> c0 = c;
  cpu::gemm_f32(g.ta, g.tb, g.m, g.n, g.k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  if (check_reference)
    expect_matches_reference(
        c, c0, ldc, g.m, g.n, g.k, beta,
        [&](int64_t i, int64_t p) { return a[size_t(g.ta ? p * lda + i : i * lda + p)]; },
        [&](int64_t p, int64_t j) { return b[size_t(g.tb ? j * ldb + p : p * ldb + j)]; },
        "gemm_f32 ta" + std::to_string(g.ta) + " tb" + std::to_string(g.tb) + " m" +
            std::to_string(g.m) + " n" + std::to_string(g.n) + " k" + std::to_string(g.k));
  return c;
}
// Small products (one thread), the dot-product path (tb, m < 512), the copied-B path (tb,
// m >= 512), k longer than one pass of the rows kernel (256), splits by columns and by rows.
const F32Case kF32Cases[] = {{false, false, 5, 7, 3},    {false, true, 37, 300, 97},
                             {false, true, 600, 70, 33}, {true, false, 130, 200, 600},
                             {true, true, 520, 19, 300}, {false, false, 700, 9, 260},
                             {true, true, 3, 513, 17}};
}  // namespace

TEST(SmallGemm, GemmF32MatchesDoubleReference) {
  if (!cpu::small_gemm_supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  for (const F32Case& g : kF32Cases)
    for (float beta : {0.0f, 1.0f}) run_gemm_f32(g, beta, true);
}

TEST(SmallGemm, GemmF32SameBitsAtAnyThreadCount) {
  if (!cpu::small_gemm_supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  const int threads = omp_get_max_threads();
  for (const F32Case& g : kF32Cases) {
    omp_set_num_threads(1);
    const std::vector<float> one = run_gemm_f32(g, 1.0f, false);
    omp_set_num_threads(std::max(2, threads));
    const std::vector<float> many = run_gemm_f32(g, 1.0f, false);
    EXPECT_EQ(one, many) << "m" << g.m << " n" << g.n << " k" << g.k;
  }
  omp_set_num_threads(threads);
}
