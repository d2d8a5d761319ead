// conv2d against plain-loop references in double (forward and backward), finite differences,
// views, determinism and error messages.
// Tolerances: scaled max error (check.h) 1e-12 for f64 and 1e-5 for f32 against the double
// reference; gradcheck's own 1e-6 for finite differences.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;

namespace {

struct Case {
  int64_t N, C, H, W, O, kh, kw, s, p;
  bool bias;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) {
  return (in + 2 * p - k) / s + 1;
}

// y[n,o,oh,ow] = b[o] + sum_{c,i,j} w[o,c,i,j] x[n,c,oh*s-p+i, ow*s-p+j] (zero outside).
Tensor ref_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const Shape xs = x.shape(), ws = w.shape();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], kh = ws[2], kw = ws[3];
  const int64_t OH = out_size(H, kh, s, p), OW = out_size(W, kw, s, p);
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  std::vector<double> y(size_t(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bv[size_t(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * s - p + i, iw = ow * s - p + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += wv[size_t(((o * C + c) * kh + i) * kw + j)] *
                       xv[size_t(((n * C + c) * H + ih) * W + iw)];
              }
          y[size_t(((n * O + o) * OH + oh) * OW + ow)] = acc;
        }
  return Tensor::from_vector(y, {N, O, OH, OW});
}

struct RefGrads {
  Tensor dx, dw, db;
};
// The same sum differentiated by hand: every (output, tap) pair sends g * w to x and g * x to w.
RefGrads ref_conv_backward(const Tensor& x, const Tensor& w, const Tensor& g, int64_t s,
                           int64_t p) {
  const Shape xs = x.shape(), ws = w.shape();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], kh = ws[2], kw = ws[3];
  const int64_t OH = out_size(H, kh, s, p), OW = out_size(W, kw, s, p);
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> gv = g.to_vector<double>();
  std::vector<double> dx(xv.size()), dw(wv.size()), db(static_cast<size_t>(O), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double go = gv[size_t(((n * O + o) * OH + oh) * OW + ow)];
          db[size_t(o)] += go;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * s - p + i, iw = ow * s - p + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const size_t wi = size_t(((o * C + c) * kh + i) * kw + j);
                const size_t xi = size_t(((n * C + c) * H + ih) * W + iw);
                dx[xi] += go * wv[wi];
                dw[wi] += go * xv[xi];
              }
        }
  return {Tensor::from_vector(dx, xs), Tensor::from_vector(dw, ws), Tensor::from_vector(db, {O})};
}

const std::vector<Case> kCases = {
    {2, 3, 7, 5, 4, 3, 2, 2, 1, true},   // odd sizes, stride 2, padding 1, non-square kernel
    {2, 3, 8, 12, 5, 4, 4, 4, 0, true},  // patch embedding: kernel = stride
    {1, 4, 6, 6, 3, 3, 3, 1, 1, false},  // decoder-style 3x3, padding 1
    {2, 5, 4, 3, 6, 1, 1, 1, 0, true},   // 1x1 (the input is its own im2col matrix)
    {1, 2, 5, 5, 2, 5, 5, 1, 0, true},   // kernel covers the whole image
    {1, 2, 9, 9, 2, 2, 2, 3, 0, true},   // stride > kernel: some input rows are never read
    {3, 2, 4, 4, 3, 3, 3, 1, 2, true},   // padding wider than needed
    {1, 1, 1, 1, 2, 3, 3, 1, 1, true},   // 1x1 image, 3x3 kernel: only the centre tap is real
    {2, 2, 5, 6, 3, 2, 2, 2, 1, true},   // kernel = stride with padding
    {1, 2, 4, 5, 2, 1, 3, 1, 1, true},   // 1x3: columns overlap, rows do not
};

std::string name(const Case& c) {
  return "x[" + std::to_string(c.N) + "," + std::to_string(c.C) + "," + std::to_string(c.H) + "," +
         std::to_string(c.W) + "] k" + std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s" +
         std::to_string(c.s) + " p" + std::to_string(c.p);
}

}  // namespace

TEST(Conv2d, ForwardMatchesReference) {
  uint64_t seed = 1;
  for (const Case& c : kCases)
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor x = test::uniform({c.N, c.C, c.H, c.W}, seed++, dt);
      Tensor w = test::uniform({c.O, c.C, c.kh, c.kw}, seed++, dt);
      Tensor b = c.bias ? test::uniform({c.O}, seed++, dt) : Tensor();
      Tensor y = conv2d(x, w, b, c.s, c.p);
      EXPECT_EQ(y.dtype(), dt);
      test::expect_close(y, ref_conv(x, w, b, c.s, c.p), dt == DType::f64 ? 1e-12 : 1e-5,
                         name(c) + " " + dtype_name(dt));
    }
}

TEST(Conv2d, GradcheckEveryInput) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    Tensor x = test::uniform({c.N, c.C, c.H, c.W}, seed++).set_requires_grad(true);
    Tensor w = test::uniform({c.O, c.C, c.kh, c.kw}, seed++).set_requires_grad(true);
    if (c.bias) {
      Tensor b = test::uniform({c.O}, seed++).set_requires_grad(true);
      const double err = test::gradcheck(
          [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], c.s, c.p); },
          {x, w, b});
      EXPECT_LE(err, 1e-6) << name(c);
    } else {
      const double err = test::gradcheck(
          [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), c.s, c.p); },
          {x, w});
      EXPECT_LE(err, 1e-6) << name(c);
    }
  }
}

// Shapes large enough to be cut into several row blocks and weight-gradient chunks.
TEST(Conv2d, BackwardMatchesReferenceOnBlockedShapes) {
  const std::vector<Case> cases = {
      {1, 64, 20, 64, 4, 3, 3, 1, 1, true},   // many row blocks of one sample
      {1, 64, 4, 1000, 2, 3, 3, 1, 1, true},  // wide rows: one row per block at any thread count
      {3, 8, 13, 11, 5, 3, 3, 2, 1, true},    // several samples, odd sizes
      {3, 16, 21, 19, 16, 3, 3, 2, 1, true},  // samples split over weight-gradient chunks
      {4, 3, 32, 32, 8, 8, 8, 8, 0, true},    // patch embedding
  };
  uint64_t seed = 200;
  for (const Case& c : cases)
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor x = test::uniform({c.N, c.C, c.H, c.W}, seed++, dt).set_requires_grad(true);
      Tensor w = test::uniform({c.O, c.C, c.kh, c.kw}, seed++, dt).set_requires_grad(true);
      Tensor b = test::uniform({c.O}, seed++, dt).set_requires_grad(true);
      Tensor y = conv2d(x, w, b, c.s, c.p);
      const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
      const std::string what = name(c) + " " + dtype_name(dt);
      test::expect_close(y, ref_conv(x, w, b, c.s, c.p), tol, what + " forward");
      Tensor g = test::uniform(y.shape(), seed++, dt);
      y.backward(g);
      const RefGrads r = ref_conv_backward(x, w, g, c.s, c.p);
      test::expect_close(x.grad(), r.dx, tol, what + " dx");
      test::expect_close(w.grad(), r.dw, tol, what + " dw");
      test::expect_close(b.grad(), r.db, tol, what + " db");
    }
}

TEST(Conv2d, OnlyRequestedGradients) {
  // The patch-embedding use: pixels need no gradient, the weight does.
  Tensor x = test::uniform({2, 3, 8, 12}, 7);
  Tensor w = test::uniform({5, 3, 4, 4}, 8).set_requires_grad(true);
  Tensor y = conv2d(x, w, Tensor(), 4, 0);
  EXPECT_EQ(y.shape(), (Shape{2, 5, 2, 3}));
  sum(y).backward();
  EXPECT_FALSE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  const RefGrads r = ref_conv_backward(x, w, Tensor::ones(y.shape(), DType::f64), 4, 0);
  test::expect_close(w.grad(), r.dw, 1e-12, "patch embedding dw");

  // A frozen convolution: only the input needs a gradient.
  Tensor x2 = test::uniform({2, 3, 7, 5}, 9).set_requires_grad(true);
  Tensor w2 = test::uniform({4, 3, 3, 2}, 10);
  Tensor y2 = conv2d(x2, w2, Tensor(), 2, 1);
  sum(y2).backward();
  EXPECT_FALSE(w2.grad().defined());
  const RefGrads r2 = ref_conv_backward(x2, w2, Tensor::ones(y2.shape(), DType::f64), 2, 1);
  test::expect_close(x2.grad(), r2.dx, 1e-12, "frozen conv dx");
}

TEST(Conv2d, NonContiguousInputs) {
  // x stored NHWC and viewed as NCHW; the weight stored [kh, kw, C, O] and permuted.
  Tensor x_nhwc = test::uniform({2, 7, 5, 3}, 11);
  Tensor x = permute(x_nhwc, {0, 3, 1, 2});
  Tensor w_store = test::uniform({3, 2, 3, 4}, 12);
  Tensor w = permute(w_store, {3, 2, 0, 1});
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  Tensor b = slice(test::uniform({8}, 13), 0, 0, 8, 2);  // strided bias
  Tensor y = conv2d(x, w, b, 2, 1);
  test::expect_close(y, ref_conv(x.contiguous(), w.contiguous(), b.contiguous(), 2, 1), 1e-12,
                     "permuted views");
  // Gradients flow back through the views to the stored layouts.
  Tensor xs = x_nhwc.clone().set_requires_grad(true);
  Tensor ws = w_store.clone().set_requires_grad(true);
  const double err = test::gradcheck(
      [](const std::vector<Tensor>& in) {
        return conv2d(permute(in[0], {0, 3, 1, 2}), permute(in[1], {3, 2, 0, 1}), Tensor(), 2, 1);
      },
      {xs, ws});
  EXPECT_LE(err, 1e-6);
}

TEST(Conv2d, DeterministicBitwise) {
  auto run = [] {
    Tensor x = test::uniform({3, 16, 17, 19}, 21, DType::f32).set_requires_grad(true);
    Tensor w = test::uniform({12, 16, 3, 3}, 22, DType::f32).set_requires_grad(true);
    Tensor b = test::uniform({12}, 23, DType::f32).set_requires_grad(true);
    Tensor y = conv2d(x, w, b, 1, 1);
    y.backward(test::uniform(y.shape(), 24, DType::f32));
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(),
                                           b.grad().to_vector<float>()};
  };
  const auto a = run(), b = run();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "result " << i << " differs";
}

namespace {
// Asserts that fn throws an Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}
}  // namespace

TEST(Conv2d, ErrorsNameTheOpAndShapes) {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 5, 3, 3});
  expect_error([&] { conv2d(x, w); }, {"conv2d", "[2, 3, 8, 8]", "[4, 5, 3, 3]"});
  expect_error(
      [&] {
        conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3}));
      },
      {"conv2d", "[3, 8, 8]", "[4, 3, 3, 3]"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3})); }, {"conv2d", "[4, 3, 3]"});
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}));
      },
      {"conv2d", "bias", "[5]", "[4, 3, 3, 3]"});
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({4, 3, 9, 3}));
      },
      {"conv2d", "[2, 3, 8, 8]", "[4, 3, 9, 3]"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 0); }, {"conv2d", "stride"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f64)); }, {"conv2d", "f64"});
}
