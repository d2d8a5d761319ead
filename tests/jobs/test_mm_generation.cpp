// The X-Omni decoding loops (jobs/src/mm_generation.h) on a tiny random Qwen2 with a made-up
// vocabulary split (text ids [0, 32), image codes 32 + [0, 16)): qwen2 ignores the logit mode,
// so the loops' own column handling is what is tested. References: the same loop without the KV
// cache, one row at a time, and a hand-written guidance loop over whole sequences.
#include <gtest/gtest.h>

#include <limits>

#include "mm_generation.h"
#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/qwen2/model.h"

using namespace xomni;

namespace {

const cli::MmVocab kVocab{32, 16};

std::unique_ptr<qwen2::CausalLM> tiny_model() {
  qwen2::Config m;
  m.vocab_size = 48;
  m.hidden_size = 32;
  m.intermediate_size = 64;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.max_position_embeddings = 128;
  return std::make_unique<qwen2::CausalLM>(m, 7);
}

Tensor prompts() {  // three rows of five ids, the last three an "image prefix" (30 31 29)
  return Tensor::from_vector<int64_t>({1, 2, 30, 31, 29, 5, 9, 30, 31, 29, 3, 3, 30, 31, 29},
                                      {3, 5});
}

TEST(MmGeneration, CachedImageCodesEqualUncached) {
  auto lm = tiny_model();
  cli::ImageSampling greedy;
  greedy.sampling.temperature = 0;
  const Tensor cached = cli::generate_image_codes(*lm, kVocab, prompts(), {}, 12, greedy, true);
  const Tensor uncached = cli::generate_image_codes(*lm, kVocab, prompts(), {}, 12, greedy, false);
  ASSERT_EQ(cached.shape(), (Shape{3, 12}));
  EXPECT_EQ(cached.to_vector<int64_t>(), uncached.to_vector<int64_t>());
  for (int64_t k : cached.to_vector<int64_t>()) EXPECT_TRUE(k >= 0 && k < 16) << k;
  // Sampled (the default min-p 0.03 at temperature 1) with one seed: the same draws too.
  cli::ImageSampling sampled;
  sampled.seed = 3;
  EXPECT_EQ(
      cli::generate_image_codes(*lm, kVocab, prompts(), {}, 12, sampled, true).to_vector<int64_t>(),
      cli::generate_image_codes(*lm, kVocab, prompts(), {}, 12, sampled, false)
          .to_vector<int64_t>());
  // With guidance as well.
  sampled.cfg = 2.5;
  const std::vector<int64_t> prefix = {30, 31, 29};
  EXPECT_EQ(cli::generate_image_codes(*lm, kVocab, prompts(), prefix, 12, sampled, true)
                .to_vector<int64_t>(),
            cli::generate_image_codes(*lm, kVocab, prompts(), prefix, 12, sampled, false)
                .to_vector<int64_t>());
}

TEST(MmGeneration, BatchRowsMatchSingleRows) {
  auto lm = tiny_model();
  cli::ImageSampling greedy;
  greedy.sampling.temperature = 0;
  const std::vector<int64_t> batched =
      cli::generate_image_codes(*lm, kVocab, prompts(), {}, 8, greedy).to_vector<int64_t>();
  for (int64_t r = 0; r < 3; ++r) {
    const Tensor one = slice(prompts(), 0, r, r + 1).contiguous();
    const std::vector<int64_t> alone =
        cli::generate_image_codes(*lm, kVocab, one, {}, 8, greedy).to_vector<int64_t>();
    EXPECT_EQ(alone, std::vector<int64_t>(batched.begin() + r * 8, batched.begin() + (r + 1) * 8))
        << "row " << r;
  }
  // Sampled: row r of a batch seeded S draws what a one-row run seeded S + r does.
  cli::ImageSampling sampled;
  sampled.seed = 5;
  sampled.sampling.min_p = 0;  // every code possible: a mismatch would show
  const std::vector<int64_t> drawn =
      cli::generate_image_codes(*lm, kVocab, prompts(), {}, 8, sampled).to_vector<int64_t>();
  for (int64_t r = 0; r < 3; ++r) {
    cli::ImageSampling one_seed = sampled;
    one_seed.seed = 5 + uint64_t(r);
    const std::vector<int64_t> alone =
        cli::generate_image_codes(*lm, kVocab, slice(prompts(), 0, r, r + 1).contiguous(), {}, 8,
                                  one_seed)
            .to_vector<int64_t>();
    EXPECT_EQ(alone, std::vector<int64_t>(drawn.begin() + r * 8, drawn.begin() + (r + 1) * 8))
        << "row " << r;
  }
  EXPECT_NE(std::vector<int64_t>(drawn.begin(), drawn.begin() + 8),
            std::vector<int64_t>(drawn.begin() + 8, drawn.begin() + 16))
      << "rows 0 and 1 share a prompt prefix but must not share their draws";
}

TEST(MmGeneration, GuidanceMatchesAHandWrittenLoop) {
  auto lm = tiny_model();
  cli::ImageSampling o;
  o.sampling.temperature = 0;
  o.cfg = 3.0;
  const std::vector<int64_t> prefix = {30, 31, 29};
  const Tensor p = slice(prompts(), 0, 0, 1).contiguous();
  const std::vector<int64_t> got =
      cli::generate_image_codes(*lm, kVocab, p, prefix, 6, o).to_vector<int64_t>();
  // Reference: whole sequences, logits of the last position over the image columns, the closed
  // form g * (ls_c - ls_u) + ls_u, argmax.
  NoGradGuard no_grad;
  std::vector<int64_t> c = p.to_vector<int64_t>(), u = prefix, want;
  for (int s = 0; s < 6; ++s) {
    auto last = [&](const std::vector<int64_t>& ids) {
      const Tensor l = lm->logits(Tensor::from_vector(ids, {1, int64_t(ids.size())}), {});
      const int64_t T = int64_t(ids.size());
      return log_softmax(reshape(slice(slice(l, 1, T - 1, T), 2, 32, 48).contiguous(), {16}), 0)
          .to_vector<float>();
    };
    const std::vector<float> lc = last(c), lu = last(u);
    int64_t best = 0;
    double best_v = -1e300;
    for (int64_t k = 0; k < 16; ++k) {
      const double v = 3.0 * (double(lc[k]) - lu[k]) + lu[k];
      if (v > best_v) best_v = v, best = k;
    }
    want.push_back(best);
    c.push_back(32 + best);
    u.push_back(32 + best);
  }
  EXPECT_EQ(got, want);
  // Guidance changes the choice somewhere in this run (otherwise the test could not tell).
  o.cfg = 1.0;
  EXPECT_NE(cli::generate_image_codes(*lm, kVocab, p, prefix, 6, o).to_vector<int64_t>(), want);
}

TEST(MmGeneration, TextStopsAtAStopIdAndStaysInTheTextColumns) {
  auto lm = tiny_model();
  SamplingOptions greedy;
  greedy.temperature = 0;
  const std::vector<int64_t> prompt = {1, 2, 3, 4};
  const std::vector<int64_t> free = cli::generate_text(*lm, kVocab, prompt, 10, {}, greedy, 0);
  ASSERT_EQ(free.size(), 10u);
  for (int64_t id : free) EXPECT_LT(id, 32);
  // Reference: greedy over whole sequences and the text columns, without a cache.
  NoGradGuard no_grad;
  std::vector<int64_t> seq = prompt;
  for (size_t s = 0; s < free.size(); ++s) {
    const int64_t T = int64_t(seq.size());
    const Tensor l = lm->logits(Tensor::from_vector(seq, {1, T}), {});
    const int64_t next =
        argmax(reshape(slice(slice(l, 1, T - 1, T), 2, 0, 32).contiguous(), {32}), 0).item();
    EXPECT_EQ(free[s], next) << "step " << s;
    seq.push_back(next);
  }
  // Stopping at the third generated id returns the two before it.
  const std::vector<int64_t> stopped =
      cli::generate_text(*lm, kVocab, prompt, 10, {free[2]}, greedy, 0);
  const size_t first = size_t(std::find(free.begin(), free.end(), free[2]) - free.begin());
  EXPECT_EQ(stopped, std::vector<int64_t>(free.begin(), free.begin() + first));
}

TEST(MmGeneration, BadInputIsRefused) {
  auto lm = tiny_model();
  cli::ImageSampling o;
  EXPECT_THROW(cli::generate_image_codes(*lm, kVocab, Tensor::from_vector<int64_t>({1, 60}, {1, 2}),
                                         {}, 4, o),
               Error);
  o.cfg = 2;
  EXPECT_THROW(cli::generate_image_codes(*lm, kVocab, prompts(), {}, 4, o), Error);
  EXPECT_THROW(cli::generate_image_codes(*lm, cli::MmVocab{40, 16}, prompts(), {30}, 4, o), Error);
}

}  // namespace

// The same loop on the X-Omni backbone plugin, when it is built: its image-mode rows are
// V + mm_vocab_size wide with everything outside [V, V + K) closed, and the loop's greedy codes
// (from the image columns alone) are the argmax of the whole row, with or without the cache.
TEST(MmGeneration, XOmniPluginImageModeCachedEqualsUncached) {
  plugins::ComponentContext ctx;
  ctx.config_json =
      R"({"vocab_size": 32, "image_vocab_size": 16, "mm_vocab_size": 20, "hidden_size": 32,
          "intermediate_size": 64, "num_hidden_layers": 3, "num_mm_adap_layers": 1,
          "num_mm_head_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
          "max_position_embeddings": 128, "tie_word_embeddings": false})";
  ctx.where = "test_mm_generation";
  ctx.seed = 3;
  std::unique_ptr<plugins::Backbone> lm;
  try {
    lm = plugins::create_backbone("xomni", ctx);
  } catch (const Error& e) {
    GTEST_SKIP() << "the xomni backbone plugin is not available: " << e.what();
  }
  cli::ImageSampling greedy;
  greedy.sampling.temperature = 0;
  const Tensor p = prompts();
  const std::vector<int64_t> cached =
      cli::generate_image_codes(*lm, kVocab, p, {}, 10, greedy, true).to_vector<int64_t>();
  EXPECT_EQ(cached,
            cli::generate_image_codes(*lm, kVocab, p, {}, 10, greedy, false).to_vector<int64_t>());
  // Reference for row 0: whole sequences in image mode, argmax over the full row.
  NoGradGuard no_grad;
  std::vector<int64_t> seq = slice(p, 0, 0, 1).contiguous().to_vector<int64_t>();
  for (int s = 0; s < 10; ++s) {
    plugins::BackboneInputs in;
    in.mode = plugins::LogitMode::image;
    const int64_t T = int64_t(seq.size());
    const Tensor l = lm->logits(Tensor::from_vector(seq, {1, T}), in);
    ASSERT_EQ(l.size(2), 32 + 20);
    const Tensor last = reshape(slice(l, 1, T - 1, T).contiguous(), {52});
    const std::vector<float> row = last.to_vector<float>();
    for (int64_t c : {0, 31, 48, 51})
      EXPECT_EQ(row[size_t(c)], std::numeric_limits<float>::lowest());
    const int64_t id = argmax(last, 0).item();
    EXPECT_EQ(id - 32, cached[size_t(s)]) << "step " << s;
    seq.push_back(id);
  }
}
