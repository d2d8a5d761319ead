#pragma once
// One training step's forward and backward passes over its micro-batches, for any parallel
// layout: this rank's context-parallel share of each batch, the loss (vocab-parallel under tensor
// parallelism), and the 1F1B pipeline schedule when there are several stages (interleaved over
// the rank's model chunks under virtual stages).
#include <vector>

#include "train/parallel_setup.h"
#include "xomni/core/data/token_data.h"
#include "xomni/parallel/pipeline.h"
#include "xomni/plugins/components.h"

namespace xomni::train {

// This rank's share of a packed batch under context parallelism: the sequence padded to a
// multiple of 2*cp (pad targets -100, pad segment id -1, which no document has) and cut into
// zigzag chunks. The batch itself when cp = 1.
PackedBatch context_parallel_share(const PackedBatch& batch, const ParallelSetup& par);

// Targets that count in the loss (not -100).
int64_t counted_tokens(const PackedBatch& b);

// Forward and backward of every micro-batch (already this rank's share). Each micro-batch's loss
// is its summed token loss divided by `step_tokens` (the step's counted tokens over every rank),
// so the accumulated gradients are those of the step's mean loss. Returns this rank's sum of those
// losses (the same on every pipeline stage). Timeline events are appended when non-null.
// fused_head_loss: the last stage scores its input with Backbone::stage_token_nll (a backbone may
// fuse its head with the loss and never hold the logits); false: the logits, then token_nll.
double forward_backward(const plugins::Backbone& lm, const ParallelSetup& par,
                        const std::vector<PackedBatch>& micro, double step_tokens,
                        bool checkpoint_layers, bool fused_head_loss,
                        std::vector<parallel::TimelineEvent>* timeline);

// The same over this rank's model chunks under interleaved 1F1B (chunk c is virtual stage
// c*pp + rank; one chunk: the function above).
double forward_backward(const std::vector<const plugins::Backbone*>& chunks,
                        const ParallelSetup& par, const std::vector<PackedBatch>& micro,
                        double step_tokens, bool checkpoint_layers, bool fused_head_loss,
                        std::vector<parallel::TimelineEvent>* timeline);

// Summed token loss of one batch without gradients (through the pipeline stages when pp > 1;
// every pipeline rank gets the value).
double forward_loss_sum(const plugins::Backbone& lm, const ParallelSetup& par,
                        const PackedBatch& batch, bool fused_head_loss = true);
// The same over this rank's model chunks (virtual stages in order around the ring of ranks).
double forward_loss_sum(const std::vector<const plugins::Backbone*>& chunks,
                        const ParallelSetup& par, const PackedBatch& batch,
                        bool fused_head_loss = true);

}  // namespace xomni::train
