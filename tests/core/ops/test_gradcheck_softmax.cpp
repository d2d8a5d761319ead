// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// softmax and log_softmax over every dim position, with non-contiguous inputs.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed, double lo = -2, double hi = 2) {
  return test::uniform(s, seed, DType::f64, lo, hi).set_requires_grad(true);
}
}  // namespace

TEST(GradcheckSoftmax, Softmax) {
  test::gradcheck([](const V& x) { return softmax(x[0], -1); }, {U({3, 5}, 1)});
  test::gradcheck([](const V& x) { return softmax(x[0], 1); }, {U({2, 3, 4}, 2)});
  test::gradcheck([](const V& x) { return softmax(x[0], 0); }, {U({3, 4}, 3)});
  test::gradcheck([](const V& x) { return softmax(transpose(x[0], 0, 1), -1); }, {U({5, 3}, 4)});
  test::gradcheck([](const V& x) { return softmax(slice(x[0], 1, 0, 7, 2), -1); }, {U({2, 7}, 5)});
  test::gradcheck([](const V& x) { return softmax(x[0], -1); }, {U({2, 4}, 6, -20, 20)});
  // A broadcast (stride-0) input and a transposed result (non-contiguous upstream gradient).
  test::gradcheck([](const V& x) { return softmax(expand(x[0], {3, 5}), -1); }, {U({1, 5}, 7)});
  test::gradcheck([](const V& x) { return transpose(softmax(x[0], -1), 0, 1); }, {U({3, 4}, 8)});
}

TEST(GradcheckSoftmax, LogSoftmax) {
  test::gradcheck([](const V& x) { return log_softmax(x[0], -1); }, {U({3, 5}, 1)});
  test::gradcheck([](const V& x) { return log_softmax(x[0], 1); }, {U({2, 3, 4}, 2)});
  test::gradcheck([](const V& x) { return log_softmax(x[0], 0); }, {U({3, 4}, 3)});
  test::gradcheck([](const V& x) { return log_softmax(transpose(x[0], 0, 1), -1); },
                  {U({5, 3}, 4)});
  test::gradcheck([](const V& x) { return log_softmax(x[0], -1); }, {U({2, 4}, 6, -20, 20)});
  test::gradcheck([](const V& x) { return log_softmax(expand(x[0], {3, 5}), -1); }, {U({1, 5}, 7)});
  test::gradcheck([](const V& x) { return transpose(log_softmax(x[0], 0), 0, 1); }, {U({3, 4}, 8)});
}
