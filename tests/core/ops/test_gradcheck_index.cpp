// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// gather, index_select and embedding with repeated indices (scatter-add backwards), i32 and i64
// indices, and non-contiguous inputs.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckIndex, Gather) {
  const Tensor i1 = Tensor::from_vector<int64_t>({0, 2, 2, 1, 3, 3, 3, 0, 1, 1, 0, 2}, {3, 4});
  test::gradcheck([i1](const V& x) { return gather(x[0], 1, i1); }, {uniform_leaf({3, 4}, 1)});
  const Tensor i0 = Tensor::from_vector<int32_t>({1, 0, 2, 1, 1, 1, 0, 2}, {2, 4});
  test::gradcheck([i0](const V& x) { return gather(x[0], 0, i0); }, {uniform_leaf({3, 4}, 2)});
  test::gradcheck([i1](const V& x) { return gather(swap_last2(x[0]), 1, i1); },
                  {uniform_leaf({5, 3}, 3)});
  const Tensor i3 = Tensor::from_vector<int64_t>({0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1}, {2, 3, 2});
  test::gradcheck([i3](const V& x) { return gather(x[0], 2, i3); }, {uniform_leaf({2, 3, 2}, 4)});
}

TEST(GradcheckIndex, IndexSelect) {
  const Tensor i64s = Tensor::from_vector<int64_t>({2, 0, 2, 2, 1}, {5});
  const Tensor i32s = Tensor::from_vector<int32_t>({3, 3, 0}, {3});
  test::gradcheck([i64s](const V& x) { return index_select(x[0], 0, i64s); },
                  {uniform_leaf({3, 4}, 1)});
  test::gradcheck([i32s](const V& x) { return index_select(x[0], 1, i32s); },
                  {uniform_leaf({2, 4, 3}, 2)});
  test::gradcheck([i32s](const V& x) { return index_select(x[0], -1, i32s); },
                  {uniform_leaf({3, 4}, 3)});
  test::gradcheck([i64s](const V& x) { return index_select(swap_last2(x[0]), 0, i64s); },
                  {uniform_leaf({4, 3}, 4)});
}

TEST(GradcheckIndex, Embedding) {
  const Tensor ids = Tensor::from_vector<int64_t>({4, 0, 4, 2, 2, 2}, {2, 3});
  test::gradcheck([ids](const V& x) { return embedding(x[0], ids); }, {uniform_leaf({5, 3}, 1)});
  const Tensor ids32 = Tensor::from_vector<int32_t>({1, 1, 3, 0}, {4});
  test::gradcheck([ids32](const V& x) { return embedding(x[0], ids32); },
                  {uniform_leaf({4, 2}, 2)});
  // Embedding then a nonlinearity, so the checked gradient depends on the row values.
  test::gradcheck([ids](const V& x) { return tanh(embedding(x[0], ids)); },
                  {uniform_leaf({5, 3}, 3)});
}
