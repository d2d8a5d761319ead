// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for sum,
// mean, var and max over dims, with keepdim and non-contiguous inputs. max uses distinct values
// spaced 0.1 apart, far from ties, so its (sub)gradient is the plain one.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "check.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

namespace {
// A shuffled arange * 0.1: distinct entries, no near-ties.
Tensor distinct(const Shape& s, uint64_t seed) {
  std::vector<double> r = test::uniform(s, seed).to_vector<double>();
  std::vector<size_t> order(r.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r[a] < r[b]; });
  std::vector<double> v(r.size());
  for (size_t i = 0; i < order.size(); ++i) v[order[i]] = 0.1 * double(i) - 1.0;
  return Tensor::from_vector(v, s).set_requires_grad(true);
}
}  // namespace

TEST(GradcheckReduce, Sum) {
  test::gradcheck([](const V& x) { return sum(x[0]); }, {uniform_leaf({3, 4}, 1)});
  test::gradcheck([](const V& x) { return sum(x[0], {1}); }, {uniform_leaf({2, 3, 4}, 2)});
  test::gradcheck([](const V& x) { return sum(x[0], {0, 2}, true); }, {uniform_leaf({2, 3, 4}, 3)});
  test::gradcheck([](const V& x) { return sum(swap_last2(x[0]), {-1}); },
                  {uniform_leaf({2, 4, 3}, 4)});
  test::gradcheck([](const V& x) { return sum(slice(x[0], 1, 0, 5, 2), {0}); },
                  {uniform_leaf({3, 5}, 5)});
  test::gradcheck(
      [](const V& x) {
        return sum(expand(x[0], {3, 4}), {1});
      },
      {uniform_leaf({3, 1}, 6)});
}

TEST(GradcheckReduce, Mean) {
  test::gradcheck([](const V& x) { return mean(x[0]); }, {uniform_leaf({3, 4}, 1)});
  test::gradcheck([](const V& x) { return mean(x[0], {1}); }, {uniform_leaf({2, 3, 4}, 2)});
  test::gradcheck(
      [](const V& x) {
        return mean(swap_last2(x[0]), {0, 2}, true);
      },
      {uniform_leaf({2, 4, 3}, 3)});
}

TEST(GradcheckReduce, Var) {
  test::gradcheck([](const V& x) { return var(x[0], {1}); }, {uniform_leaf({2, 3, 4}, 1)});
  test::gradcheck(
      [](const V& x) {
        return var(x[0], {0, 2}, 1, true);
      },
      {uniform_leaf({2, 3, 4}, 2)});
  test::gradcheck([](const V& x) { return var(x[0], {-1}, 0); }, {uniform_leaf({3, 5}, 3)});
  test::gradcheck([](const V& x) { return var(swap_last2(x[0]), {0}); }, {uniform_leaf({4, 3}, 4)});
  test::gradcheck(
      [](const V& x) {
        return var(x[0], {0, 1});
      },
      {uniform_leaf({3, 4}, 5, 4.0, 5.0)});
}

TEST(GradcheckReduce, Max) {
  test::gradcheck([](const V& x) { return max(x[0], 1).values; }, {distinct({3, 5}, 1)});
  test::gradcheck([](const V& x) { return max(x[0], 0, true).values; }, {distinct({4, 2, 3}, 2)});
  test::gradcheck([](const V& x) { return max(swap_last2(x[0]), -1).values; },
                  {distinct({5, 3}, 3)});
  // The selected value used twice downstream.
  test::gradcheck(
      [](const V& x) {
        Tensor m = max(x[0], 1, true).values;
        return mul(sub(x[0], m), m);
      },
      {distinct({3, 4}, 4)});
}
