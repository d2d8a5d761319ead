#include "codec/codec_stage.h"

#include "xomni/core/tensor/autograd.h"

namespace xomni::codec {
namespace {

// The sizes a layout must divide. The siglip and decoder stages have no vocabulary or pipeline
// blocks; their components check their own widths against tp.
parallel::ModelDims layout_dims(const CodecJob& job) {
  if (job.stage == CodecStage::vq) return job.lm_dims;
  parallel::ModelDims d;
  d.num_hidden_layers = 1;
  return d;
}

void check_layout(const CodecJob& job, const train::ParallelSetup& par) {
  const parallel::Layout& l = par.layout();
  const std::string stage = stage_name(job.stage);
  XOMNI_CHECK(l.cp == 1 && l.pp == 1, par.where, ": the ", stage,
              " stage runs data- and tensor-parallel; set parallel.cp = 1 and parallel.pp = 1 "
              "(got cp=",
              l.cp, ", pp=", l.pp, ")");
  XOMNI_CHECK(!par.tp.sequence_parallel, par.where, ": the ", stage,
              " stage does not split sequences; set parallel.sequence_parallel = false");
  XOMNI_CHECK(job.stage != CodecStage::decoder || l.tp == 1, par.where,
              ": the decoder stage (a convolutional network) runs data-parallel; set "
              "parallel.tp = 1 (got ",
              l.tp, ")");
}

}  // namespace

void StepMetrics::add(const std::vector<std::pair<std::string, double>>& parts) {
  if (sums_.empty())
    for (const auto& [name, v] : parts) sums_.emplace_back(name, 0.0);
  XOMNI_CHECK(parts.size() == sums_.size(), "StepMetrics: the loss terms changed within a step");
  for (size_t i = 0; i < parts.size(); ++i) sums_[i].second += parts[i].second;
  ++count_;
}

std::vector<std::pair<std::string, double>> StepMetrics::means(
    const train::ParallelSetup& par) const {
  std::vector<std::pair<std::string, double>> out;
  const double ranks = double(par.layout().dp);
  for (const auto& [name, v] : sums_)
    out.emplace_back(name,
                     train::sum_over_data(v / double(std::max<int64_t>(count_, 1)), par) / ranks);
  return out;
}

ImageBatchStage::ImageBatchStage(const CodecJob& job, const train::ParallelSetup& par)
    : job_(job), par_(par), data_(job, par) {}

train::StepOutput ImageBatchStage::forward_backward(std::vector<parallel::TimelineEvent>*) {
  // Gradients summed over data-parallel ranks and micro-batches are the step mean's.
  const double share = 1.0 / double(par_.layout().dp * job_.trainer.loop.grad_accum);
  StepMetrics metrics;
  double loss = 0;
  for (int64_t m = 0; m < job_.trainer.loop.grad_accum; ++m) {
    const plugins::LossTerms lt = objective(data_.next_train(), job_.trainer.run.seed);
    loss += lt.total.item() * share;
    mul(lt.total, share).backward();
    metrics.add(lt.parts);
  }
  train::StepOutput out;
  out.loss = train::sum_over_data(loss, par_);
  out.metrics = metrics.means(par_);
  return out;
}

double ImageBatchStage::items_per_step() const {
  return double(job_.trainer.loop.batch_size * job_.trainer.loop.grad_accum);
}

double ImageBatchStage::evaluate() {
  NoGradGuard no_grad;
  double loss = 0;
  const std::vector<IndexedBatch> batches = data_.valid_batches();
  for (const IndexedBatch& b : batches) loss += objective(b, /*seed=*/0).total.item();
  return train::sum_over_data(loss / double(batches.size()), par_) / double(par_.layout().dp);
}

std::unique_ptr<train::Stage> make_codec_stage(const CodecJob& job,
                                               const train::ParallelSetup& par) {
  check_layout(job, par);
  switch (job.stage) {
    case CodecStage::siglip:
      return make_siglip_stage(job, par);
    case CodecStage::vq:
      return make_vq_stage(job, par);
    case CodecStage::decoder:
      return make_decoder_stage(job, par);
  }
  throw Error("make_codec_stage: unknown stage");
}

train::TrainResult run_codec_training(const CodecJob& job, int64_t max_steps_this_run,
                                      const parallel::MpiCommunicator* world) {
  const train::ParallelSetup par = train::setup_parallel(job.trainer.parallel, layout_dims(job),
                                                         job.trainer.source + " [parallel]", world);
  std::unique_ptr<train::Stage> stage = make_codec_stage(job, par);
  return train::run_training(*stage, job.trainer, {}, par, max_steps_this_run);
}

}  // namespace xomni::codec
