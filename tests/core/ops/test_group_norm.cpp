// group_norm against a plain-loop reference in double, finite differences, views, determinism
// and errors. Tolerances: scaled max error 1e-12 for f64 and 1e-5 for f32 against the double
// reference; gradcheck's own 1e-6.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"

using namespace xomni;

namespace {

// The values of t, or n copies of fill when t is undefined (no weight or bias).
std::vector<double> values_or(const Tensor& t, int64_t n, double fill) {
  return t.defined() ? t.to_vector<double>() : std::vector<double>(size_t(n), fill);
}

// One (n, group) block of group_norm's input: its M = C/G * S values (S the spatial size) start
// at base, element e is of channel c0 + e / S; mean and biased variance in two passes.
struct Block {
  size_t base, M, c0, S;
  double mean, var;
};

std::vector<Block> group_blocks(const Shape& s, int64_t G, const std::vector<double>& xv) {
  const int64_t N = s[0], C = s[1], Cg = C / G;
  int64_t S = 1;
  for (size_t i = 2; i < s.size(); ++i) S *= s[i];
  std::vector<Block> blocks;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      const size_t base = size_t((n * C + g * Cg) * S), M = size_t(Cg * S);
      double mean = 0, var = 0;
      for (size_t e = 0; e < M; ++e) mean += xv[base + e];
      mean /= double(M);
      for (size_t e = 0; e < M; ++e) var += (xv[base + e] - mean) * (xv[base + e] - mean);
      blocks.push_back({base, M, size_t(g * Cg), size_t(S), mean, var / double(M)});
    }
  return blocks;
}

// Normalise each (n, group) block, then the per-channel affine.
Tensor ref_group_norm(const Tensor& x, int64_t G, const Tensor& w, const Tensor& b, double eps) {
  const int64_t C = x.shape()[1];
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<double> wv = values_or(w, C, 1.0), bv = values_or(b, C, 0.0);
  std::vector<double> y(xv.size());
  for (const Block& k : group_blocks(x.shape(), G, xv))
    for (size_t e = 0; e < k.M; ++e) {
      const size_t c = k.c0 + e / k.S;
      y[k.base + e] = (xv[k.base + e] - k.mean) / std::sqrt(k.var + eps) * wv[c] + bv[c];
    }
  return Tensor::from_vector(y, x.shape());
}

// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) over each group, dxhat = g w.
Tensor ref_group_norm_dx(const Tensor& x, int64_t G, const Tensor& w, const Tensor& gy,
                         double eps) {
  const std::vector<double> xv = x.to_vector<double>(), gv = gy.to_vector<double>();
  const std::vector<double> wv = values_or(w, x.shape()[1], 1.0);
  std::vector<double> dx(xv.size());
  for (const Block& k : group_blocks(x.shape(), G, xv)) {
    const size_t base = k.base, M = k.M;
    const double rstd = 1.0 / std::sqrt(k.var + eps);
    std::vector<double> xhat(M), dxhat(M);
    double m1 = 0, m2 = 0;
    for (size_t e = 0; e < M; ++e) {
      xhat[e] = (xv[base + e] - k.mean) * rstd;
      dxhat[e] = gv[base + e] * wv[k.c0 + e / k.S];
      m1 += dxhat[e] / double(M);
      m2 += dxhat[e] * xhat[e] / double(M);
    }
    for (size_t e = 0; e < M; ++e) dx[base + e] = rstd * (dxhat[e] - m1 - xhat[e] * m2);
  }
  return Tensor::from_vector(dx, x.shape());
}

struct Case {
  Shape shape;
  int64_t groups;
  bool affine;
};

const std::vector<Case> kCases = {
    {{2, 6, 3, 5}, 3, true},   // two channels per group
    {{2, 6, 3, 5}, 1, true},   // one group: layer norm over C, H, W
    {{2, 6, 3, 5}, 6, true},   // groups = C: instance norm
    {{3, 4, 7}, 2, true},      // one spatial dim
    {{3, 8}, 2, true},         // no spatial dims
    {{2, 4, 2, 3}, 2, false},  // no weight and bias
};

}  // namespace

TEST(GroupNorm, ForwardMatchesReference) {
  uint64_t seed = 1;
  for (const Case& c : kCases)
    for (DType dt : {DType::f64, DType::f32}) {
      const int64_t C = c.shape[1];
      Tensor x = test::uniform(c.shape, seed++, dt, -2.0, 3.0);
      Tensor w = c.affine ? test::uniform({C}, seed++, dt) : Tensor();
      Tensor b = c.affine ? test::uniform({C}, seed++, dt) : Tensor();
      Tensor y = group_norm(x, c.groups, w, b, 1e-5);
      test::expect_close(
          y, ref_group_norm(x, c.groups, w, b, 1e-5), dt == DType::f64 ? 1e-12 : 1e-5,
          shape_str(c.shape) + " groups " + std::to_string(c.groups) + " " + dtype_name(dt));
    }
}

TEST(GroupNorm, LargeMeanIsStable) {
  // A two-pass variance and centring before scaling keep f32 accurate when the mean dwarfs
  // the spread (the reference sees the same f32-rounded inputs).
  Tensor x = test::uniform({2, 4, 8, 8}, 5, DType::f32, 999.0, 1001.0);
  Tensor w = test::uniform({4}, 6, DType::f32), b = test::uniform({4}, 7, DType::f32);
  Tensor y = group_norm(x, 2, w, b, 1e-6);
  test::expect_close(y, ref_group_norm(x, 2, w, b, 1e-6), 1e-5, "mean 1000, spread 1, f32");
  Tensor xg = x.clone().set_requires_grad(true);
  Tensor gy = test::uniform(x.shape(), 8, DType::f32);
  group_norm(xg, 2, w, b, 1e-6).backward(gy);
  test::expect_close(xg.grad(), ref_group_norm_dx(x, 2, w, gy, 1e-6), 1e-5, "dx, f32");
}

TEST(GroupNorm, GradcheckEveryInput) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    const int64_t C = c.shape[1];
    Tensor x = test::uniform_leaf(c.shape, seed++);
    const std::string what = shape_str(c.shape) + " groups " + std::to_string(c.groups);
    if (c.affine) {
      Tensor w = test::uniform_leaf({C}, seed++);
      Tensor b = test::uniform_leaf({C}, seed++);
      const double err = test::gradcheck(
          [&](const std::vector<Tensor>& in) { return group_norm(in[0], c.groups, in[1], in[2]); },
          {x, w, b});
      EXPECT_LE(err, 1e-6) << what;
    } else {
      const double err = test::gradcheck(
          [&](const std::vector<Tensor>& in) {
            return group_norm(in[0], c.groups, Tensor(), Tensor());
          },
          {x});
      EXPECT_LE(err, 1e-6) << what;
    }
  }
}

TEST(GroupNorm, BackwardOnlyForWeight) {
  Tensor x = test::uniform({2, 4, 3, 3}, 31);
  Tensor w = test::uniform_leaf({4}, 32);
  sum(mul(group_norm(x, 2, w, Tensor()), test::uniform({2, 4, 3, 3}, 33))).backward();
  EXPECT_FALSE(x.grad().defined());
  // dL/dw[c] = sum over n, h, w of g * xhat, with xhat the normalisation without affine.
  Tensor xhat = ref_group_norm(x, 2, Tensor(), Tensor(), 1e-5);
  Tensor expected = sum(mul(xhat, test::uniform({2, 4, 3, 3}, 33)), {0, 2, 3});
  test::expect_close(w.grad(), expected, 1e-12, "weight gradient");
}

TEST(GroupNorm, NonContiguousInput) {
  Tensor stored = test::uniform({2, 3, 5, 6}, 41);  // N, H, W, C
  Tensor x = permute(stored, {0, 3, 1, 2});
  ASSERT_FALSE(x.is_contiguous());
  Tensor w = test::uniform({6}, 42), b = test::uniform({6}, 43);
  test::expect_close(group_norm(x, 3, w, b), ref_group_norm(x.contiguous(), 3, w, b, 1e-5), 1e-12,
                     "permuted view");
  Tensor xs = stored.clone().set_requires_grad(true);
  const double err = test::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return group_norm(permute(in[0], {0, 3, 1, 2}), 3, w, b);
      },
      {xs});
  EXPECT_LE(err, 1e-6);
}

TEST(GroupNorm, DeterministicBitwise) {
  auto run = [] {
    Tensor x = test::uniform({4, 32, 9, 11}, 51, DType::f32).set_requires_grad(true);
    Tensor w = test::uniform({32}, 52, DType::f32).set_requires_grad(true);
    Tensor b = test::uniform({32}, 53, DType::f32).set_requires_grad(true);
    Tensor y = group_norm(x, 8, w, b);
    y.backward(test::uniform(y.shape(), 54, DType::f32));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(),
                                           b.grad().to_vector<float>()};
  };
  const auto a = run(), b = run();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "result " << i << " differs";
}

TEST(GroupNorm, Errors) {
  Tensor x = Tensor::zeros({2, 6, 4, 4});
  std::string m = test::error_message([&] { group_norm(x, 4, Tensor(), Tensor()); });
  EXPECT_NE(m.find("group_norm"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 6, 4, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("4 groups"), std::string::npos) << m;
  m = test::error_message([&] { group_norm(x, 3, Tensor::ones({5}), Tensor()); });
  EXPECT_NE(m.find("weight"), std::string::npos) << m;
  EXPECT_NE(m.find("[5]"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 6, 4, 4]"), std::string::npos) << m;
  m = test::error_message([&] { group_norm(Tensor::zeros({6}), 3, Tensor(), Tensor()); });
  EXPECT_NE(m.find("group_norm"), std::string::npos) << m;
  EXPECT_NE(m.find("[6]"), std::string::npos) << m;
  m = test::error_message([&] { group_norm(x, 0, Tensor(), Tensor()); });
  EXPECT_NE(m.find("group_norm"), std::string::npos) << m;
}
