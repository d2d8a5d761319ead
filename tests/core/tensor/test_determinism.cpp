// Bitwise repeatability at a fixed thread count: a forward and backward through the threaded
// paths of most ops (large enough that parallel_for splits them), run twice.
#include <gtest/gtest.h>

#include <cstring>

#include "check.h"

using namespace xomni;

namespace {
struct Outcome {
  std::vector<float> loss, grads;
};

Outcome forward_backward() {
  const int64_t B = 4, T = 128, D = 64, V = 512;
  std::vector<Tensor> params = {
      test::uniform({V, D}, 1, DType::f32), test::uniform({D, D}, 2, DType::f32),
      test::uniform({D}, 3, DType::f32), test::uniform({4 * D, D}, 4, DType::f32),
      test::uniform({V, 4 * D}, 5, DType::f32)};
  for (Tensor& p : params) p.set_requires_grad();
  std::vector<int64_t> ids(size_t(B * T));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t((i * 7919 + 13) % size_t(V));
  Tensor tokens = Tensor::from_vector(ids, {B, T});
  Tensor x = embedding(params[0], tokens);  // scatter-add backward
  x = layer_norm(x, params[2], Tensor());   // per-thread partials
  Tensor q = reshape(linear(x, params[1]), {B, T, 4, D / 4});
  q = transpose(rope(q, Tensor::arange(T)), 1, 2);  // [B, H, T, d]
  AttentionOptions opt;
  opt.causal = true;
  Tensor a = transpose(scaled_dot_product_attention(q, q, q, opt), 1, 2);
  x = add(x, reshape(a, {B, T, D}));
  Tensor h = gelu(linear(rms_norm(x, params[2]), params[3]));
  Tensor logits = reshape(linear(h, params[4]), {B * T, V});
  Tensor loss = add(cross_entropy(logits, reshape(tokens, {B * T})), mean(softmax(logits, -1)));
  loss.backward();
  Outcome r;
  r.loss = loss.to_vector<float>();
  for (const Tensor& p : params) {
    std::vector<float> g = p.grad().to_vector<float>();
    r.grads.insert(r.grads.end(), g.begin(), g.end());
  }
  return r;
}
}  // namespace

TEST(Determinism, TwoRunsAreBitwiseIdentical) {
  const Outcome a = forward_backward(), b = forward_backward();
  ASSERT_EQ(a.grads.size(), b.grads.size());
  EXPECT_EQ(std::memcmp(a.loss.data(), b.loss.data(), sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.grads.data(), b.grads.data(), a.grads.size() * sizeof(float)), 0);
}
