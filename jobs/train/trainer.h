#pragma once
// The generic trainer every training stage is a client of. It owns what all stages share: the
// AdamW optimizer (ZeRO-1 when asked) over the stage's parameters, the learning-rate schedule,
// gradient reduction over the data and context ranks, the global norm and clipping, the step
// loop with metrics (<run>/metrics.jsonl), a progress line with ETA, evaluation at a cadence,
// signal-safe checkpoints, exact resume from the newest valid checkpoint under any layout, and a
// start from another stage's weights. A stage supplies its model and data through Stage.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "train/checkpoint.h"
#include "train/options.h"
#include "train/parallel_setup.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::train {

// What one optimizer step's forward and backward passes give back.
struct StepOutput {
  double loss = 0;  // the step's mean loss over every rank (the same value on each)
  // Further per-step numbers for metrics.jsonl (e.g. a stage's loss terms), by name.
  std::vector<std::pair<std::string, double>> metrics;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // This rank's trainable parameters (its shards, its pipeline stage), in a fixed order.
  virtual std::vector<nn::ParamInfo> parameters() const = 0;
  // Forward and backward passes of one optimizer step over its micro-batches, accumulating the
  // gradients of the step's mean loss (over every rank) into the parameters. Appends pipeline
  // schedule events to `timeline` when it is not null.
  virtual StepOutput forward_backward(std::vector<parallel::TimelineEvent>* timeline) = 0;
  // How many backward passes one forward_backward() runs on this rank (its micro-batches; every
  // pipeline stage runs one per micro-batch), so that parallel.overlap_grad_reduce can start
  // reducing a gradient once its last pass is done. 0 (the default): not known; the reduction
  // then starts after forward_backward().
  virtual int64_t backward_passes_per_step() const { return 0; }
  // Tokens (or samples) one step consumes over every rank, and the model FLOPs it takes: for
  // throughput metrics.
  virtual double items_per_step() const = 0;
  virtual double flops_per_step() const = 0;
  // The validation loss, when the stage has validation data.
  virtual bool has_evaluation() const = 0;
  virtual double evaluate() = 0;
  // Further numbers of the last evaluate() (e.g. a held-out accuracy), written beside eval_loss.
  virtual std::vector<std::pair<std::string, double>> evaluation_metrics() const { return {}; }
  // Where the stage's data streams stand, for checkpoints, and setting them back on resume.
  virtual DataPositions data_positions() const = 0;
  virtual void restore_data_positions(const DataPositions& positions) = 0;
  // False after a step that leaves state a checkpoint does not hold (GRPO between the updates of
  // one rollout batch): the trainer writes no checkpoint there (the stage's job keeps its cadence
  // on the steps where it is true) and, on a signal, stops at the next step where it is true.
  virtual bool can_checkpoint() const { return true; }
};

struct TrainResult {
  int64_t steps_done = 0;      // optimizer steps completed in total (including resumed ones)
  double last_loss = 0;        // mean training loss of the last step
  std::vector<double> losses;  // mean training loss of each step of this run
  double last_eval_loss = -1;  // -1 when no evaluation ran
  bool stopped_by_signal = false;
  // The run's newest checkpoint was already at train.steps: nothing ran, nothing was written.
  bool already_complete = false;
  std::string run_dir;
};

// Where a stage starts when there is no checkpoint of its own to resume: empty, or the path of
// another run's checkpoint whose model weights it loads (any layout).
struct StartOptions {
  std::string init_checkpoint;
  // Where each parameter comes from in init_checkpoint (see load_model_weights); empty: the same
  // name, every parameter required.
  InitSourceFn init_source;
};

// Runs (or resumes) `stage` under `par`. `max_steps_this_run` < 0 means until the job's step
// count; tests use it to stop half way as a preemption would (0 loads and saves again).
TrainResult run_training(Stage& stage, const TrainerOptions& options, const StartOptions& start,
                         const ParallelSetup& par, int64_t max_steps_this_run = -1);

}  // namespace xomni::train
