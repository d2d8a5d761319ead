// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// matmul (2-D, batched, broadcast leading dims, 1-D operands, transposed and strided views) and
// linear (with and without bias, 1-D to 3-D inputs).
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed) {
  return test::uniform(s, seed).set_requires_grad(true);
}
Tensor T(const Tensor& x) {
  return transpose(x, -2, -1);
}
const auto mm = [](const V& x) { return matmul(x[0], x[1]); };
}  // namespace

TEST(GradcheckMatmul, Shapes) {
  test::gradcheck(mm, {U({3, 4}, 1), U({4, 5}, 2)});
  test::gradcheck(mm, {U({2, 3, 4}, 3), U({4, 2}, 4)});
  test::gradcheck(mm, {U({3, 4}, 5), U({2, 4, 2}, 6)});
  test::gradcheck(mm, {U({2, 1, 3, 4}, 7), U({3, 4, 2}, 8)});
  test::gradcheck(mm, {U({4}, 9), U({4, 3}, 10)});
  test::gradcheck(mm, {U({3, 4}, 11), U({4}, 12)});
  test::gradcheck(mm, {U({4}, 13), U({4}, 14)});
  test::gradcheck(mm, {U({4}, 15), U({2, 4, 3}, 16)});
  test::gradcheck(mm, {U({2, 3, 4}, 17), U({4}, 18)});
}

TEST(GradcheckMatmul, Views) {
  test::gradcheck([](const V& x) { return matmul(T(x[0]), x[1]); }, {U({4, 3}, 1), U({4, 5}, 2)});
  test::gradcheck([](const V& x) { return matmul(x[0], T(x[1])); }, {U({3, 4}, 3), U({5, 4}, 4)});
  test::gradcheck([](const V& x) { return matmul(T(x[0]), T(x[1])); },
                  {U({2, 4, 3}, 5), U({2, 5, 4}, 6)});
  test::gradcheck([](const V& x) { return matmul(slice(x[0], 1, 0, 8, 2), x[1]); },
                  {U({3, 8}, 7), U({4, 2}, 8)});
  test::gradcheck(
      [](const V& x) {
        return matmul(x[0], expand(x[1], {2, 4, 3}));
      },
      {U({2, 3, 4}, 9), U({1, 4, 3}, 10)});
  // Both operands the same tensor: x x^T.
  test::gradcheck([](const V& x) { return matmul(x[0], T(x[0])); }, {U({3, 4}, 11)});
}

TEST(GradcheckMatmul, Linear) {
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {U({3, 4}, 1), U({5, 4}, 2), U({5}, 3)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {U({2, 3, 4}, 4), U({2, 4}, 5), U({2}, 6)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1]); }, {U({3, 4}, 7), U({5, 4}, 8)});
  test::gradcheck([](const V& x) { return linear(x[0], x[1], x[2]); },
                  {U({4}, 9), U({3, 4}, 10), U({3}, 11)});
  test::gradcheck([](const V& x) { return linear(T(x[0]), T(x[1]), x[2]); },
                  {U({4, 3}, 12), U({4, 5}, 13), U({5}, 14)});
}
