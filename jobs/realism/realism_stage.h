#pragma once
// The realism stage: the scorer (realism_model.h) trained with binary cross-entropy on labelled
// images (kinds "clean"/"real" = 1, "corrupted" = 0), through the generic trainer. Data-parallel
// only: the model is small enough that tensor, pipeline and context splits would not pay.
#include <cstdint>
#include <memory>

#include "realism/realism_job.h"
#include "train/trainer.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::realism {

// The Stage of a realism job under `par`; refuses tp, pp, cp and sequence parallelism by key.
std::unique_ptr<train::Stage> make_realism_stage(const RealismJob& job,
                                                 const train::ParallelSetup& par);

// Sets up the (data-parallel) layout and trains.
train::TrainResult run_realism_training(const RealismJob& job, int64_t max_steps_this_run = -1,
                                        const parallel::MpiCommunicator* world = nullptr);

}  // namespace xomni::realism
