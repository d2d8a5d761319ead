// nn modules: parameter naming and lookup, and the layers against their op definitions.
#include <gtest/gtest.h>

#include "check.h"
#include "xomni/core/nn/nn.h"

using namespace xomni;

namespace {
class TinyBlock : public nn::Module {
 public:
  explicit TinyBlock(Generator& gen)
      : proj(register_module("proj", std::make_unique<nn::Linear>(4, 3, true, gen))),
        norm(register_module("norm", std::make_unique<nn::RMSNorm>(3, 1e-6))) {}
  nn::Linear& proj;
  nn::RMSNorm& norm;
};
}  // namespace

TEST(NN, ParameterNamesAndLookup) {
  Generator gen(1);
  nn::Container root;
  root.add("embed", std::make_unique<nn::Embedding>(10, 4, gen));
  root.add("block", std::make_unique<TinyBlock>(gen));
  std::vector<std::string> names;
  for (const auto& [n, t] : root.named_parameters("model.")) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"model.embed.weight", "model.block.proj.weight",
                                             "model.block.proj.bias", "model.block.norm.weight"}));
  EXPECT_EQ(root.parameter("block.proj.bias").shape(), (Shape{3}));
  EXPECT_THROW(root.parameter("block.nope"), Error);
  for (const auto& [n, t] : root.named_parameters()) EXPECT_TRUE(t.requires_grad()) << n;
}

TEST(NN, LayersComputeTheirDefinition) {
  Generator gen(2);
  TinyBlock b(gen);
  Tensor x = test::uniform({2, 4}, 3, DType::f32);
  Tensor expected = add(matmul(x, transpose(b.proj.weight(), 0, 1)), b.parameter("proj.bias"));
  test::expect_close(b.proj(x), expected, 1e-6, "linear");
  EXPECT_EQ(b.parameter("norm.weight").to_vector<float>(), (std::vector<float>{1, 1, 1}));
  // Init statistics: N(0, 0.02^2) weights.
  Generator g2(5);
  nn::Linear big(256, 256, false, g2);
  EXPECT_NEAR(var(big.weight().detach(), {0, 1}).item(), 0.02 * 0.02, 2e-5);
}
