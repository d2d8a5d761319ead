// Post-accumulate hooks: once per backward pass, after the leaf's last contribution, in the order
// backward finishes leaves; recomputed (checkpoint) blocks defer them to the end of the pass.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "check.h"
#include "xomni/core/tensor/grad_hooks.h"

using namespace xomni;

namespace {
Tensor leaf(std::vector<double> v) {
  const int64_t n = int64_t(v.size());
  return Tensor::from_vector<double>(v, {n}).set_requires_grad();
}
}  // namespace

// A leaf used by three ops (like a tied embedding: lookup and head) fires once, when its
// gradient already holds all three contributions.
TEST(GradHooks, SharedLeafFiresOnceWithTheWholeGradient) {
  Tensor w = leaf({1.0, -2.0, 0.5});
  std::vector<std::vector<double>> seen;
  add_post_accumulate_hook(w, [&] { seen.push_back(w.grad().to_vector<double>()); });
  // loss = sum(w*w) + sum(3w) + sum(exp(w)); d/dw = 2w + 3 + exp(w)
  sum(add(add(mul(w, w), mul(w, 3.0)), exp(w))).backward();
  ASSERT_EQ(seen.size(), 1u);
  const std::vector<double> v = {1.0, -2.0, 0.5};
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(seen[0][i], 2 * v[i] + 3 + std::exp(v[i]), 1e-12);
  // A second pass fires again and sees the accumulated sum of both passes.
  sum(mul(w, 2.0)).backward();
  ASSERT_EQ(seen.size(), 2u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(seen[1][i], seen[0][i] + 2.0, 1e-12);
}

// Hooks run during backward: the leaf used last in the forward pass is final first, and the
// other leaf's hook has not run yet at that time.
TEST(GradHooks, FireInBackwardOrderAndSkipUnreachedLeaves) {
  Tensor a = leaf({0.5, 1.5}), b = leaf({2.0, -1.0}), unused = leaf({7.0});
  std::vector<std::string> order;
  add_post_accumulate_hook(a, [&] { order.push_back("a"); });
  add_post_accumulate_hook(b, [&] { order.push_back("b"); });
  add_post_accumulate_hook(unused, [&] { order.push_back("unused"); });
  Tensor h = tanh(mul(a, 2.0));    // a first
  sum(mul(exp(h), b)).backward();  // then b
  EXPECT_EQ(order, (std::vector<std::string>{"b", "a"}));
}

TEST(GradHooks, RemovedHookDoesNotRun) {
  Tensor w = leaf({1.0});
  int calls = 0;
  const int64_t id = add_post_accumulate_hook(w, [&] { ++calls; });
  const int64_t other = add_post_accumulate_hook(w, [&] { calls += 10; });
  remove_post_accumulate_hook(id);
  sum(mul(w, w)).backward();
  EXPECT_EQ(calls, 10);
  remove_post_accumulate_hook(other);
  sum(mul(w, w)).backward();
  EXPECT_EQ(calls, 10);
  EXPECT_NEAR(w.grad().to_vector<double>()[0], 4.0, 0);  // 2w, twice
}

// A leaf used in two recomputed blocks fires once, at the end of the pass, with both blocks'
// contributions (each block's own nested backward must not fire it).
TEST(GradHooks, LeafInsideCheckpointBlocksFiresOnceAtTheEnd) {
  Tensor w = leaf({0.3, -0.7}), x = leaf({1.0, 2.0});
  std::vector<std::vector<double>> seen;
  bool x_final_first = false;
  add_post_accumulate_hook(w, [&] {
    seen.push_back(w.grad().to_vector<double>());
    x_final_first = x.grad().defined();
  });
  auto block = [&](const std::vector<Tensor>& in) { return tanh(mul(in[0], w)); };
  Tensor y = checkpoint(block, {checkpoint(block, {x})});
  sum(y).backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(x_final_first);
  // The same graph without recomputation gives the reference gradient.
  Tensor w2 = leaf({0.3, -0.7});
  sum(tanh(mul(tanh(mul(x.detach(), w2)), w2))).backward();
  test::expect_close(Tensor::from_vector<double>(seen[0], {2}), w2.grad(), 1e-14, "dw");
}

// Used outside a block after it (so backward finishes the outside use first) and inside it:
// the hook would have run before the block's contribution, so the engine refuses.
TEST(GradHooks, LeafUsedInsideAndOutsideACheckpointIsRefused) {
  Tensor w = leaf({0.3, -0.7}), x = leaf({1.0, 2.0});
  add_post_accumulate_hook(w, [] {});
  auto block = [&](const std::vector<Tensor>& in) { return tanh(mul(in[0], w)); };
  Tensor y = mul(checkpoint(block, {x}), w);
  try {
    sum(y).backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inside a recomputed (checkpoint) block after its hook"),
              std::string::npos)
        << e.what();
  }
}

TEST(GradHooks, NeedsALeaf) {
  Tensor x = leaf({1.0});
  EXPECT_THROW(add_post_accumulate_hook(mul(x, 2.0), [] {}), Error);
  EXPECT_THROW(add_post_accumulate_hook(x, nullptr), Error);
  // A frozen leaf may carry a hook; it runs once the leaf requires grad and a pass reaches it.
  Tensor frozen = Tensor::from_vector<double>({3.0}, {1});
  int calls = 0;
  add_post_accumulate_hook(frozen, [&] { ++calls; });
  frozen.set_requires_grad(true);
  sum(mul(frozen, frozen)).backward();
  EXPECT_EQ(calls, 1);
}
