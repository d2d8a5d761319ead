// The siglip_vq tokenizer's SigLIP loss and vector-quantiser step against PyTorch 1.13
// (fixtures/golden/siglip_vq.xtf, make_siglip_vq_fixtures.py): loss values and gradients with
// respect to logits, raw embeddings, logit scale and bias; the chosen ids, the straight-through
// codes (their gradient reaches the encoder output through the normalisation), the codebook and
// commitment losses with their gradients to the encoder output and the codebook. Tolerance: f32
// 1e-5 of scaled_max_error; f64 1e-6.
#include <gtest/gtest.h>

#include <cmath>

#include "check.h"
#include "xomni/siglip_vq/model.h"

using namespace xomni;
using namespace xomni::siglip_vq;
using test::GoldenCase;
using V = std::vector<Tensor>;

namespace {

constexpr double kCodebookWeight = 0.8, kCommitmentWeight = 0.25;  // as in the script

// A constant of the fixture (not an input of its case), in the dtype of the run.
Tensor constant(const std::string& key, DType dtype) {
  static const test::Fixture fx = test::load_fixture("siglip_vq");
  return test::fixture_get(fx, key).to(dtype);
}

VectorQuantized vq(const Tensor& h, const Tensor& codebook) {
  return vector_quantize(l2_normalize(h), l2_normalize(codebook), kCodebookWeight,
                         kCommitmentWeight);
}

std::vector<GoldenCase> cases() {
  const auto loss = [](const V& x) { return sigmoid_contrastive_loss(x[0]); };
  return {
      {"siglip_logits_loss", {"logits"}, loss},
      {"siglip_large", {"logits"}, loss},  // logits of scale 60: both tails of log sigmoid
      {"siglip_embed",
       {"x", "y", "scale", "bias"},
       [](const V& x) {
         return sigmoid_contrastive_loss(
             siglip_logits(l2_normalize(x[0]), l2_normalize(x[1]), x[2], x[3]));
       }},
      {"vq_ids", {"h", "codebook"}, [](const V& x) { return vq(x[0], x[1]).ids; }},
      {"vq_codes",
       {"h"},
       [](const V& x) {
         return vq(x[0], constant("vq_codes.const_codebook", x[0].dtype())).codes;
       }},
      {"vq_losses",
       {"h", "codebook"},
       [](const V& x) {
         const VectorQuantized r = vq(x[0], x[1]);
         return stack({r.codebook_loss, r.commitment_loss}, 0);
       }},
      {"vq_total",
       {"h", "codebook", "w"},
       [](const V& x) {
         const VectorQuantized r = vq(x[0], x[1]);
         return add(add(sum(mul(r.codes, x[2])), r.codebook_loss), r.commitment_loss);
       }},
      {"vq_st",
       {"z"},
       [](const V& x) {
         return vector_quantize(x[0], constant("vq_st.const_e", x[0].dtype()), kCodebookWeight,
                                kCommitmentWeight)
             .codes;
       }},
  };
}

}  // namespace

XOMNI_GOLDEN_TESTS(GoldenSiglipVQ, "siglip_vq");

// Straight-through, directly: the codes hold the chosen (normalised) code rows, and a loss on the
// codes sends its gradient to z unchanged and nothing to the codebook.
TEST(GoldenSiglipVQ, CodesAreTheChosenRowsAndPassGradientsStraightThrough) {
  const Tensor z = fixture().at("vq_st.z").clone().set_requires_grad(true);
  Tensor e = fixture().at("vq_st.const_e").clone().set_requires_grad(true);
  const VectorQuantized r = vector_quantize(z, e, 1.0, 1.0);
  test::expect_close(r.codes.detach(), embedding(e.detach(), r.ids), 1e-6, "codes = e[ids]");
  const Tensor g = fixture().at("vq_st.gout");
  r.codes.backward(g);
  test::expect_close(z.grad(), g, 0.0, "dL/dz");
  EXPECT_FALSE(e.grad().defined()) << "the codes must not send a gradient to the codebook";
}

// The stable log sigmoid against the naive formula where that is accurate, and in the far tails
// where the naive one overflows or loses everything.
TEST(GoldenSiglipVQ, LogSigmoidIsStable) {
  const Tensor x = Tensor::from_vector(std::vector<double>{-800, -30, -1, 0, 2, 30, 800}, {7});
  const std::vector<double> got = log_sigmoid(x).to_vector<double>();
  EXPECT_DOUBLE_EQ(got[0], -800.0);
  EXPECT_NEAR(got[1], -30.0 - std::log1p(std::exp(-30.0)), 1e-12);
  EXPECT_NEAR(got[2], -std::log1p(std::exp(1.0)), 1e-12);
  EXPECT_NEAR(got[3], -std::log(2.0), 1e-12);
  EXPECT_NEAR(got[4], -std::log1p(std::exp(-2.0)), 1e-12);
  EXPECT_NEAR(got[5], -std::log1p(std::exp(-30.0)), 1e-15);  // log(1 + t), not log1p: absolute
  EXPECT_EQ(got[6], 0.0);
}
