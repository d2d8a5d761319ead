// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// cross_entropy: mean / sum / none with ignored targets, another ignore_index with i32 targets,
// a transposed logits view.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using V = std::vector<Tensor>;

namespace {
Tensor U(const Shape& s, uint64_t seed) {
  return test::uniform(s, seed, DType::f64, -3, 3).set_requires_grad(true);
}
}  // namespace

TEST(GradcheckLoss, CrossEntropy) {
  const Tensor t = Tensor::from_vector<int64_t>({2, -100, 0, 4, 1}, {5});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    test::gradcheck([t, r](const V& x) { return cross_entropy(x[0], t, -100, r); }, {U({5, 5}, 1)});
  const Tensor t32 = Tensor::from_vector<int32_t>({1, 0, 1, 2}, {4});
  test::gradcheck([t32](const V& x) { return cross_entropy(x[0], t32, 1); }, {U({4, 3}, 2)});
  test::gradcheck([t](const V& x) { return cross_entropy(transpose(x[0], 0, 1), t); },
                  {U({5, 5}, 3)});
  // The loss feeding a further op: its gradient must scale with the upstream gradient.
  test::gradcheck([t](const V& x) { return mul(cross_entropy(x[0], t), x[1]); },
                  {U({5, 5}, 4), U({3}, 5)});
}
