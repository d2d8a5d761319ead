#pragma once
// Running the codec stages (siglip, vq, decoder: see codec_job.h) through the generic trainer.
#include <cstdint>
#include <memory>

#include "codec/codec_data.h"
#include "codec/codec_job.h"
#include "train/trainer.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/plugins/components.h"

namespace xomni::codec {

// The Stage of a codec job under `par` (its model, data and objective).
std::unique_ptr<train::Stage> make_codec_stage(const CodecJob& job,
                                               const train::ParallelSetup& par);

// Sets up the layout (data parallel; tensor parallel where the components split) and trains.
train::TrainResult run_codec_training(const CodecJob& job, int64_t max_steps_this_run = -1,
                                      const parallel::MpiCommunicator* world = nullptr);

// Averages named per-micro-batch values over the step (micro-batches, data-parallel ranks).
class StepMetrics {
 public:
  void add(const std::vector<std::pair<std::string, double>>& parts);
  // The step's means; every rank gets the same values.
  std::vector<std::pair<std::string, double>> means(const train::ParallelSetup& par) const;

 private:
  std::vector<std::pair<std::string, double>> sums_;
  int64_t count_ = 0;
};

// A codec stage whose loss is a mean over its images (siglip, decoder): micro-batches from
// CodecData, each micro-batch's loss weighted so that the gradients summed over micro-batches
// and data-parallel ranks are those of the step's mean; evaluation is the mean over the
// validation batches.
class ImageBatchStage : public train::Stage {
 public:
  ImageBatchStage(const CodecJob& job, const train::ParallelSetup& par);
  train::StepOutput forward_backward(std::vector<parallel::TimelineEvent>* timeline) override;
  // One backward pass per micro-batch.
  int64_t backward_passes_per_step() const override { return job_.trainer.loop.grad_accum; }
  double items_per_step() const override;
  double flops_per_step() const override { return 0; }  // not modelled for the codec yet
  bool has_evaluation() const override { return data_.has_valid(); }
  double evaluate() override;
  train::DataPositions data_positions() const override { return data_.positions(); }
  void restore_data_positions(const train::DataPositions& positions) override {
    data_.restore(positions);
  }

 protected:
  // One micro-batch's loss; `seed` is the run's in training and 0 in validation (fixed draws).
  virtual plugins::LossTerms objective(const IndexedBatch& batch, uint64_t seed) = 0;

  const CodecJob& job_;
  const train::ParallelSetup& par_;
  CodecData data_;
};

std::unique_ptr<train::Stage> make_siglip_stage(const CodecJob& job,
                                                const train::ParallelSetup& par);
std::unique_ptr<train::Stage> make_vq_stage(const CodecJob& job, const train::ParallelSetup& par);
std::unique_ptr<train::Stage> make_decoder_stage(const CodecJob& job,
                                                 const train::ParallelSetup& par);

}  // namespace xomni::codec
