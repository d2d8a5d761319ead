// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for the
// view and shape ops: reshape/view, permute, transpose, slice (with start and step), squeeze,
// unsqueeze, expand, flatten, cat, stack, split, contiguous and clone, alone and chained on
// non-contiguous inputs. The functions square their result so a wrong element mapping shows.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

namespace {
Tensor sq(const Tensor& x) {
  return mul(x, x);
}
}  // namespace

TEST(GradcheckViews, ReshapeAndView) {
  test::gradcheck(
      [](const V& x) {
        return sq(reshape(x[0], {4, -1}));
      },
      {uniform_leaf({2, 3, 2}, 1)});
  test::gradcheck([](const V& x) { return sq(view(x[0], {6, 2})); }, {uniform_leaf({3, 4}, 2)});
  // reshape of a permuted tensor copies; the gradient must land back in the right places.
  test::gradcheck(
      [](const V& x) {
        return sq(reshape(permute(x[0], {2, 0, 1}), {-1}));
      },
      {uniform_leaf({2, 3, 2}, 3)});
  test::gradcheck([](const V& x) { return sq(flatten(x[0], 1)); }, {uniform_leaf({2, 3, 2}, 4)});
  test::gradcheck([](const V& x) { return sq(flatten(transpose(x[0], 0, 2), 0, 1)); },
                  {uniform_leaf({2, 3, 2}, 5)});
}

TEST(GradcheckViews, PermuteTransposeSlice) {
  test::gradcheck(
      [](const V& x) {
        return sq(permute(x[0], {1, 2, 0}));
      },
      {uniform_leaf({2, 3, 4}, 1)});
  test::gradcheck([](const V& x) { return sq(transpose(x[0], 0, 1)); }, {uniform_leaf({3, 4}, 2)});
  test::gradcheck([](const V& x) { return sq(slice(x[0], 1, 1, 6, 2)); },
                  {uniform_leaf({3, 7}, 3)});
  test::gradcheck([](const V& x) { return sq(slice(x[0], 0, 2, 5)); }, {uniform_leaf({6, 2}, 4)});
  test::gradcheck([](const V& x) { return sq(slice(transpose(x[0], 0, 1), 0, 0, 4, 3)); },
                  {uniform_leaf({3, 5}, 5)});
}

TEST(GradcheckViews, SqueezeUnsqueezeExpand) {
  test::gradcheck([](const V& x) { return sq(squeeze(x[0], 1)); }, {uniform_leaf({3, 1, 2}, 1)});
  test::gradcheck([](const V& x) { return sq(unsqueeze(x[0], -1)); }, {uniform_leaf({3, 2}, 2)});
  test::gradcheck(
      [](const V& x) {
        return sq(expand(x[0], {2, 3, 4}));
      },
      {uniform_leaf({3, 1}, 3)});
  test::gradcheck(
      [](const V& x) {
        return sq(expand(unsqueeze(x[0], 0), {3, 2}));
      },
      {uniform_leaf({2}, 4)});
  test::gradcheck(
      [](const V& x) {
        return sq(expand(transpose(x[0], 0, 1), {2, 3, 4}));
      },
      {uniform_leaf({4, 3}, 5)});
}

TEST(GradcheckViews, CatStackSplit) {
  test::gradcheck(
      [](const V& x) {
        return sq(cat({x[0], x[1], x[2]}, 0));
      },
      {uniform_leaf({2, 3}, 1), uniform_leaf({1, 3}, 2), uniform_leaf({3, 3}, 3)});
  test::gradcheck(
      [](const V& x) {
        return sq(cat({transpose(x[0], 0, 1), x[1]}, 1));
      },
      {uniform_leaf({2, 3}, 4), uniform_leaf({3, 4}, 5)});
  test::gradcheck(
      [](const V& x) {
        return sq(stack({x[0], x[1]}, 1));
      },
      {uniform_leaf({2, 3}, 6), uniform_leaf({2, 3}, 7)});
  test::gradcheck(
      [](const V& x) {
        return sq(stack({x[0], slice(x[1], 0, 0, 4, 2)}, -1));
      },
      {uniform_leaf({2, 3}, 8), uniform_leaf({4, 3}, 9)});
  test::gradcheck(
      [](const V& x) {
        std::vector<Tensor> p = split(x[0], 2, 1);  // [3, 2] x 3
        return add(mul(p[0], p[1]), mul(p[2], 3.0));
      },
      {uniform_leaf({3, 6}, 10)});
  test::gradcheck(
      [](const V& x) {
        std::vector<Tensor> p = split(x[0], std::vector<int64_t>{1, 3, 2}, 0);  // p[1] unused
        return cat({sq(p[2]), p[0]}, 0);
      },
      {uniform_leaf({6, 2}, 11)});
  test::gradcheck([](const V& x) { return sq(split(transpose(x[0], 0, 1), 2, 0)[1]); },
                  {uniform_leaf({3, 5}, 12)});
}

TEST(GradcheckViews, ContiguousAndClone) {
  test::gradcheck([](const V& x) { return sq(transpose(x[0], 0, 1).contiguous()); },
                  {uniform_leaf({3, 4}, 1)});
  test::gradcheck([](const V& x) { return sq(slice(x[0], 1, 0, 4, 3).clone()); },
                  {uniform_leaf({3, 4}, 2)});
  test::gradcheck([](const V& x) { return add(x[0].clone(), x[0]); }, {uniform_leaf({2, 3}, 3)});
}
