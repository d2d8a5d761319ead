#include "lm/lm_stage.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "lm/lm_components.h"
#include "lm/lm_step.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/tensor/profiler.h"
#include "xomni/parallel/context_parallel.h"

namespace xomni::train {
namespace {

class LmStage final : public Stage {
 public:
  LmStage(const LmJob& job, const ParallelSetup& par) : job_(job), par_(par) {
    const LoopOptions& loop = job.trainer.loop;
    const std::string& src = job.trainer.source;
    const int64_t dp = par.layout().dp, B = loop.batch_size, T = loop.seq_len;
    XOMNI_CHECK(B % dp == 0, src, ": train.batch_size=", B,
                " is not divisible by the data-parallel size dp=", dp);
    const int64_t T_local = parallel::zigzag_padded_length(T, par.layout().cp) / par.layout().cp;
    XOMNI_CHECK(!par.tp.sequence_parallel || T_local % par.tp.size() == 0, src, ": each rank's ",
                T_local, " tokens of train.seq_len=", T, " are not divisible by tp=", par.tp.size(),
                " (sequence parallelism splits the sequence)");
    // Interleaved 1F1B takes the micro-batches in groups of pp.
    const int pp = par.layout().pp, v = par.virtual_stages;
    XOMNI_CHECK(v == 1 || loop.grad_accum % pp == 0, src, ": train.grad_accum = ", loop.grad_accum,
                " micro-batches is not a multiple of pp = ", pp,
                ", which interleaved 1F1B (parallel.virtual_stages = ", v, ") needs");
    // Interleaved 1F1B: one backbone piece per virtual stage of this rank (chunk c is virtual
    // stage c*pp + rank), each built for its own global layer range.
    for (int c = 0; c < par.virtual_stages; ++c) {
      chunks_.push_back(make_backbone(job.model, job.trainer.run.seed, &par, c));
      chunk_views_.push_back(chunks_.back().get());
    }
    const plugins::Backbone& first = *chunks_.front();
    XOMNI_CHECK(!job.data.train.empty(), src, ": data.train is not set");
    train_data_.emplace(TokenDataset::open(job.data.train));
    XOMNI_CHECK(train_data_->vocab_size() <= first.vocab_size(), src, ": the shards in ",
                job.data.train, " use ", train_data_->vocab_size(),
                " token ids but model.vocab_size is ", first.vocab_size());
    loader_.emplace(*train_data_, T, B / dp, job.trainer.run.seed, par.coord().dp, dp);
    if (!job.data.valid.empty()) valid_data_.emplace(TokenDataset::open(job.data.valid));
  }

  // Every chunk's parameters, under their global names.
  std::vector<nn::ParamInfo> parameters() const override {
    std::vector<nn::ParamInfo> all;
    for (const auto& chunk : chunks_) {
      std::vector<nn::ParamInfo> mine = chunk->parameter_infos();
      all.insert(all.end(), mine.begin(), mine.end());
    }
    return all;
  }
  const plugins::Backbone& model() const { return *chunks_.front(); }

  StepOutput forward_backward(std::vector<parallel::TimelineEvent>* timeline) override {
    // The loss is the mean over every counted token of the step (all micro-batches, all dp
    // ranks), so the summed gradients need no further scaling.
    std::vector<PackedBatch> micro;
    double tokens_here = 0;
    for (int64_t m = 0; m < job_.trainer.loop.grad_accum; ++m) {
      profiler::Scope data("data");
      micro.push_back(context_parallel_share(loader_->next(), par_));
      tokens_here += double(counted_tokens(micro.back()));
    }
    const double step_tokens = std::max(1.0, sum_over_data(tokens_here, par_));
    StepOutput out;
    out.loss = sum_over_data(
        train::forward_backward(chunk_views_, par_, micro, step_tokens,
                                job_.model.checkpoint_layers, job_.model.fused_head_loss, timeline),
        par_);
    return out;
  }

  // Each parameter gets one backward pass per micro-batch (under 1F1B on every stage; with
  // virtual stages each chunk's passes reach only that chunk's parameters).
  int64_t backward_passes_per_step() const override { return job_.trainer.loop.grad_accum; }

  double items_per_step() const override {
    const LoopOptions& l = job_.trainer.loop;
    return double(l.batch_size * l.seq_len * l.grad_accum);
  }
  double flops_per_step() const override {
    return model().flops_per_token(job_.trainer.loop.seq_len) * items_per_step();
  }

  bool has_evaluation() const override { return valid_data_.has_value(); }

  // Token-weighted mean loss over eval_batches validation batches (always the same ones: a fresh
  // loader), split over the data-parallel ranks like training batches.
  double evaluate() override {
    const LoopOptions& l = job_.trainer.loop;
    const int64_t dp = par_.layout().dp;
    PackedLoader loader(*valid_data_, l.seq_len, l.batch_size / dp, /*seed=*/0, par_.coord().dp,
                        dp);
    double loss = 0, tokens = 0;
    for (int64_t i = 0; i < std::max<int64_t>(1, job_.data.eval_batches); ++i) {
      const PackedBatch b = context_parallel_share(loader.next(), par_);
      loss += forward_loss_sum(chunk_views_, par_, b, job_.model.fused_head_loss);
      tokens += double(counted_tokens(b));
    }
    return sum_over_data(loss, par_) / std::max(1.0, sum_over_data(tokens, par_));
  }

  DataPositions data_positions() const override { return {{"train_loader", loader_->state()}}; }
  void restore_data_positions(const DataPositions& positions) override {
    loader_->restore(positions.at("train_loader"));
  }

 private:
  const LmJob& job_;
  const ParallelSetup& par_;
  std::vector<std::unique_ptr<plugins::Backbone>> chunks_;  // one per virtual stage of this rank
  std::vector<const plugins::Backbone*> chunk_views_;
  std::optional<TokenDataset> train_data_, valid_data_;
  std::optional<PackedLoader> loader_;
};

}  // namespace

TrainResult run_lm_training(const LmJob& job, int64_t max_steps_this_run,
                            const parallel::MpiCommunicator* world) {
  const ParallelSetup par = setup_parallel(job.trainer.parallel, job.model.dims,
                                           job.trainer.source + " [parallel]", world);
  LmStage stage(job, par);
  StartOptions start;
  start.init_checkpoint = job.model.init_checkpoint;
  start.init_source = [&stage](const std::string& name, const std::set<std::string>& source) {
    return stage.model().init_source(name, source);
  };
  return run_training(stage, job.trainer, start, par, max_steps_this_run);
}

TrainResult run_lm_training(const Config& config, int64_t max_steps_this_run,
                            const parallel::MpiCommunicator* world) {
  return run_lm_training(parse_lm_job(config), max_steps_this_run, world);
}

}  // namespace xomni::train
