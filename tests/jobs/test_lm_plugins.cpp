// The LM stage gets its backbone through the plugin registry: its loss curve equals a plain
// training loop over the directly linked Qwen2 model with core AdamW on the same batches.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "check.h"
#include "lm/lm_stage.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/nn/lr_schedule.h"
#include "xomni/core/nn/optim.h"
#include "xomni/qwen2/model.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {

class LmPlugins : public xomni::test::TempDirTest {};

TEST_F(LmPlugins, TrainerThroughThePluginMatchesADirectLoop) {
  const std::string shards = dir_ + "/shards";
  write_token_shards(shards, xomni::test::counting_documents(120, 40, 5), 1000, 40);
  const std::string text = "[run]\nname = \"p\"\ndir = \"" + dir_ +
                           "\"\nseed = 4\n[model]\nbackbone = \"qwen2\"\nvocab_size = 40\n"
                           "hidden_size = 32\nintermediate_size = 64\nnum_hidden_layers = 2\n"
                           "num_attention_heads = 4\nnum_key_value_heads = 2\n[data]\ntrain = \"" +
                           shards +
                           "\"\n[train]\nsteps = 8\nbatch_size = 4\nseq_len = 24\n"
                           "grad_clip = 0.5\nlog_every = 100\n[schedule]\nwarmup_steps = 2\n";
  const Config cfg = Config::parse(text, "<test>", train::lm_job_schema());
  const std::vector<double> through_plugin = train::run_lm_training(cfg).losses;
  ASSERT_EQ(through_plugin.size(), 8u);

  // The same job by hand: model from the linked library, core AdamW, torch-style clipping.
  qwen2::Config m;
  m.vocab_size = 40;
  m.hidden_size = 32;
  m.intermediate_size = 64;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.tie_word_embeddings = true;
  qwen2::CausalLM lm(m, 4);
  std::vector<NamedParam> params;
  for (auto& [name, t] : lm.named_parameters()) params.push_back({name, t});
  const train::TrainerOptions options = train::parse_lm_job(cfg).trainer;
  AdamW opt(params, options.optimizer.adamw);
  const LrSchedule schedule(options.schedule);
  PackedLoader loader(TokenDataset::open(shards), 24, 4, 4);
  for (int step = 0; step < 8; ++step) {
    opt.set_lr(schedule.lr_at(step));
    opt.zero_grad();
    const PackedBatch b = loader.next();
    qwen2::ForwardOptions fo;
    fo.positions = b.positions;
    fo.segment_ids = b.segment_ids;
    const Tensor logits = reshape(lm(b.input, fo), {96, 40});
    Tensor loss = cross_entropy(logits, reshape(b.target, {96}));
    loss.backward();
    clip_grad_norm(params, 0.5);
    opt.step();
    EXPECT_NEAR(loss.item(), through_plugin[size_t(step)], 1e-6 * loss.item()) << "step " << step;
  }
}

}  // namespace
