// Finite-difference gradient checks (f64, test::gradcheck, 1e-6 of the gradient's scale) for
// scaled_dot_product_attention through q, k and v: plain, causal with GQA, key padding with
// Tq != Tk, segment ids with an empty query row, explicit scale, transposed [B, T, H, D] inputs.
#include <gtest/gtest.h>

#include "check.h"

using namespace xomni;
using test::uniform_leaf;
using V = std::vector<Tensor>;

TEST(GradcheckAttention, Plain) {
  test::gradcheck([](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
                  {uniform_leaf({1, 2, 3, 4}, 1), uniform_leaf({1, 2, 3, 4}, 2),
                   uniform_leaf({1, 2, 3, 4}, 3)});
}

TEST(GradcheckAttention, BroadcastKvAndTransposedResult) {
  // k and v broadcast over heads (stride 0); the result transposed to [B, T, H, D].
  test::gradcheck(
      [](const V& x) {
        return transpose(scaled_dot_product_attention(x[0], expand(x[1], {1, 2, 4, 3}),
                                                      expand(x[2], {1, 2, 4, 3})),
                         1, 2);
      },
      {uniform_leaf({1, 2, 3, 3}, 1), uniform_leaf({1, 1, 4, 3}, 2),
       uniform_leaf({1, 1, 4, 3}, 3)});
}

TEST(GradcheckAttention, CausalGqa) {
  AttentionOptions o;
  o.causal = true;
  test::gradcheck([o](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2], o); },
                  {uniform_leaf({1, 4, 4, 3}, 1), uniform_leaf({1, 2, 4, 3}, 2),
                   uniform_leaf({1, 2, 4, 3}, 3)});
}

TEST(GradcheckAttention, KeyPadding) {
  AttentionOptions o;
  o.key_padding_mask = Tensor::from_vector<uint8_t>({0, 1, 0, 0, 0, 0, 0, 1, 1, 1}, {2, 5});
  test::gradcheck([o](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2], o); },
                  {uniform_leaf({2, 1, 3, 4}, 1), uniform_leaf({2, 1, 5, 4}, 2),
                   uniform_leaf({2, 1, 5, 4}, 3)});
}

TEST(GradcheckAttention, SegmentsWithEmptyRow) {
  AttentionOptions o;
  o.causal = true;
  o.q_segment_ids = Tensor::from_vector<int64_t>({0, 0, 1, 1, 1}, {1, 5});
  o.k_segment_ids = Tensor::from_vector<int64_t>({0, 0, 2, 1, 1}, {1, 5});  // query 2 sees nothing
  test::gradcheck([o](const V& x) { return scaled_dot_product_attention(x[0], x[1], x[2], o); },
                  {uniform_leaf({1, 2, 5, 3}, 1), uniform_leaf({1, 1, 5, 3}, 2),
                   uniform_leaf({1, 1, 5, 3}, 3)});
}

TEST(GradcheckAttention, ScaleAndTransposedInputs) {
  AttentionOptions o;
  o.scale = 0.7;
  o.causal = true;
  test::gradcheck(
      [o](const V& x) {
        return scaled_dot_product_attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2),
                                            transpose(x[2], 1, 2), o);
      },
      {uniform_leaf({1, 4, 2, 3}, 1), uniform_leaf({1, 4, 2, 3}, 2),
       uniform_leaf({1, 4, 2, 3}, 3)});
}
