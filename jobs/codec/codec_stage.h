#pragma once
// Running the codec stages (siglip, vq, decoder: see codec_job.h) through the generic trainer.
#include <cstdint>
#include <memory>

#include "codec/codec_job.h"
#include "train/trainer.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::codec {

// The Stage of a codec job under `par` (its model, data and objective).
std::unique_ptr<train::Stage> make_codec_stage(const CodecJob& job,
                                               const train::ParallelSetup& par);

// Sets up the layout (data parallel; tensor parallel where the components split) and trains.
train::TrainResult run_codec_training(const CodecJob& job, int64_t max_steps_this_run = -1,
                                      const parallel::MpiCommunicator* world = nullptr);

// What each stage's micro-batch loss is scaled by so the gradients summed over data-parallel
// ranks and micro-batches are those of the step's mean loss.
double micro_batch_share(const CodecJob& job, const train::ParallelSetup& par);

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

std::unique_ptr<train::Stage> make_siglip_stage(const CodecJob& job,
                                                const train::ParallelSetup& par);
std::unique_ptr<train::Stage> make_vq_stage(const CodecJob& job, const train::ParallelSetup& par);
std::unique_ptr<train::Stage> make_decoder_stage(const CodecJob& job,
                                                 const train::ParallelSetup& par);

}  // namespace xomni::codec
