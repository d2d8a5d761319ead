// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for the
// fused decoder-layer ops: add_rms_norm with both outputs, either alone, chained as in a decoder
// stack and with x and residual the same tensor; swiglu; rope_qk with both outputs, either alone,
// transposed inputs and a non-contiguous upstream gradient. Also their argument checks.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/ops/fused.h"

using namespace xomni;
using test::swap_last2;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckFused, AddRmsNorm) {
  const auto both = [](const AddRmsNorm& r) { return stack({r.sum, r.normed}, 0); };
  test::gradcheck([both](const V& x) { return both(add_rms_norm(x[0], x[1], x[2], 1e-6)); },
                  {uniform_leaf({3, 5}, 1), uniform_leaf({3, 5}, 2), uniform_leaf({5}, 3)});
  test::gradcheck([](const V& x) { return add_rms_norm(x[0], x[1], x[2], 0.1).normed; },
                  {uniform_leaf({2, 3, 4}, 4), uniform_leaf({2, 3, 4}, 5), uniform_leaf({4}, 6)});
  const Tensor w = test::uniform({4}, 9);  // the sum alone gives the weight no gradient
  test::gradcheck([w](const V& x) { return add_rms_norm(x[0], x[1], w, 1e-6).sum; },
                  {uniform_leaf({3, 4}, 7), uniform_leaf({3, 4}, 8)});
  // Transposed input, non-contiguous upstream gradient, no weight.
  test::gradcheck(
      [both](const V& x) {
        return swap_last2(both(add_rms_norm(swap_last2(x[0]), x[1], {}, 1e-6)));
      },
      {uniform_leaf({5, 3}, 10), uniform_leaf({3, 5}, 11)});
  // x and residual the same tensor.
  test::gradcheck([both](const V& x) { return both(add_rms_norm(x[0], x[0], x[1], 1e-6)); },
                  {uniform_leaf({3, 4}, 12), uniform_leaf({4}, 13)});
  // Two layers: the first sum is the second's residual and its normed output feeds a map whose
  // result is the second's x, as in a decoder stack.
  test::gradcheck(
      [](const V& x) {
        const AddRmsNorm a = add_rms_norm(x[0], x[1], x[2], 1e-6);
        const AddRmsNorm b = add_rms_norm(tanh(a.normed), a.sum, x[3], 1e-6);
        return add(b.sum, mul(b.normed, b.normed));
      },
      {uniform_leaf({2, 5}, 14), uniform_leaf({2, 5}, 15), uniform_leaf({5}, 16),
       uniform_leaf({5}, 17)});
}

TEST(GradcheckFused, Swiglu) {
  test::gradcheck([](const V& x) { return swiglu(x[0], x[1]); },
                  {uniform_leaf({3, 7}, 1, -4.0, 4.0), uniform_leaf({3, 7}, 2)});
  test::gradcheck([](const V& x) { return swap_last2(swiglu(swap_last2(x[0]), x[1])); },
                  {uniform_leaf({4, 3}, 3, -3.0, 3.0), uniform_leaf({3, 4}, 4)});
  test::gradcheck([](const V& x) { return swiglu(x[0], x[0]); }, {uniform_leaf({2, 5}, 5)});
}

TEST(GradcheckFused, RopeQK) {
  const Tensor pbt = Tensor::from_vector<int64_t>({0, 1, 2, 0, 5, 6, 7, 100}, {2, 4});
  const Tensor pt = Tensor::from_vector<int32_t>({3, 4, 5}, {3});
  test::gradcheck(
      [pbt](const V& x) {
        const RopeQK r = rope_qk(x[0], x[1], pbt, 1e4);
        return cat({r.q, r.k}, 1);
      },
      {uniform_leaf({2, 4, 3, 4}, 1), uniform_leaf({2, 4, 1, 4}, 2)});
  test::gradcheck([pt](const V& x) { return rope_qk(x[0], x[1], pt, 1e6).q; },
                  {uniform_leaf({1, 3, 2, 6}, 3), uniform_leaf({1, 3, 2, 6}, 4)});
  test::gradcheck([pt](const V& x) { return swap_last2(rope_qk(x[0], x[1], pt, 1e6).k); },
                  {uniform_leaf({1, 3, 2, 6}, 5), uniform_leaf({1, 3, 1, 6}, 6)});
  // Inputs given as [B, H, T, D] tensors transposed to [B, T, H, D].
  test::gradcheck(
      [pbt](const V& x) {
        const RopeQK r = rope_qk(transpose(x[0], 1, 2), transpose(x[1], 1, 2), pbt, 1e4);
        return cat({r.q, r.k}, 1);
      },
      {uniform_leaf({2, 2, 4, 4}, 7), uniform_leaf({2, 2, 4, 4}, 8)});
}

// rope_qk equals rope followed by the transpose; add_rms_norm and swiglu equal their
// compositions (f32, where the fused kernels do the same arithmetic).
TEST(FusedOps, MatchTheirCompositions) {
  const Tensor x = test::uniform({4, 3, 16}, 1, DType::f32),
               r = test::uniform({4, 3, 16}, 2, DType::f32);
  const Tensor w = test::uniform({16}, 3, DType::f32, 0.5, 1.5);
  const AddRmsNorm f = add_rms_norm(x, r, w, 1e-6);
  const Tensor s = add(x, r);
  EXPECT_EQ(f.sum.to_vector<float>(), s.to_vector<float>());
  EXPECT_EQ(f.normed.to_vector<float>(), rms_norm(s, w, 1e-6).to_vector<float>());
  EXPECT_EQ(swiglu(x, r).to_vector<float>(), mul(silu(x), r).to_vector<float>());
  const Tensor q = test::uniform({2, 5, 3, 8}, 4, DType::f32),
               k = test::uniform({2, 5, 1, 8}, 5, DType::f32);
  const Tensor pos = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 7, 8, 9, 10, 11}, {2, 5});
  const RopeQK rq = rope_qk(q, k, pos, 1e4);
  EXPECT_TRUE(rq.q.is_contiguous() && rq.k.is_contiguous());
  EXPECT_EQ(rq.q.to_vector<float>(),
            transpose(rope(q, pos, 1e4), 1, 2).contiguous().to_vector<float>());
  EXPECT_EQ(rq.k.to_vector<float>(),
            transpose(rope(k, pos, 1e4), 1, 2).contiguous().to_vector<float>());
}

TEST(FusedOps, ArgumentChecks) {
  const Tensor a = Tensor::zeros({2, 4}), b = Tensor::zeros({2, 3}), w = Tensor::ones({4});
  EXPECT_TRUE(test::contains(test::error_message([&] { add_rms_norm(a, b, w, 1e-6); }),
                             "add_rms_norm: residual of shape [2, 3] does not match input [2, 4]"));
  EXPECT_TRUE(test::contains(test::error_message([&] { swiglu(a, b); }),
                             "swiglu: gate [2, 4] and up [2, 3] must have one shape"));
  const Tensor q = Tensor::zeros({1, 3, 2, 4}), k = Tensor::zeros({1, 2, 2, 4});
  const Tensor pos = Tensor::arange(3);
  EXPECT_TRUE(test::contains(test::error_message([&] { rope_qk(q, k, pos, 1e4); }),
                             "rope_qk: k [1, 2, 2, 4] must be [B, T, Hk, D] with q's B, T and D"));
  EXPECT_TRUE(test::contains(test::error_message([&] { rope_qk(q, q, Tensor::arange(2), 1e4); }),
                             "rope_qk: positions of shape [2] do not match input"));
}
