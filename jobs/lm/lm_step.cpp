#include "lm/lm_step.h"

#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/tp_layers.h"

namespace xomni::train {
namespace {

plugins::BackboneInputs inputs_of(const PackedBatch& b, bool checkpoint_layers) {
  plugins::BackboneInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segment_ids;
  in.checkpoint_layers = checkpoint_layers;
  in.token_ids = b.input;
  return in;
}

// Summed next-token loss against targets [B, T] of the last stage run on `input` (the ids on a
// single stage): fused, the backbone may score its head with the loss (no logits held).
Tensor loss_sum(const plugins::Backbone& lm, const Tensor& input, const Tensor& target,
                const plugins::BackboneInputs& in, bool fused) {
  return sum(fused ? lm.stage_token_nll(input, target, in)
                   : lm.token_nll(lm.stage_forward(input, in), target));
}

// [B, T] padded at the end of dimension 1 to `length` with `value`.
Tensor pad_tokens(const Tensor& t, int64_t length, double value) {
  if (t.size(1) == length) return t;
  Tensor out = Tensor::full({t.size(0), length}, value, t.dtype());
  slice(out, 1, 0, t.size(1)).copy_(t);
  return out;
}

// The shape of the hidden states passed between pipeline stages.
Shape activation_shape(const plugins::Backbone& lm, const ParallelSetup& par,
                       const PackedBatch& b) {
  int64_t T = b.input.size(1);
  if (par.tp.sequence_parallel) T /= par.tp.size();
  return {b.input.size(0), T, lm.hidden_size()};
}

// The pipeline's forward and backward of every micro-batch over this rank's chunks (run_1f1b for
// one chunk, interleaved 1F1B for several).
double pipeline_forward_backward(const std::vector<const plugins::Backbone*>& chunks,
                                 const ParallelSetup& par, const std::vector<PackedBatch>& micro,
                                 double step_tokens, bool checkpoint_layers, bool fused_head_loss,
                                 std::vector<parallel::TimelineEvent>* timeline) {
  std::vector<parallel::StageFunctions> stages(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const plugins::Backbone& lm = *chunks[c];
    stages[c].activation_shape = activation_shape(lm, par, micro.front());
    stages[c].forward = [&](int64_t m, const Tensor& received) -> Tensor {
      const PackedBatch& b = micro[size_t(m)];
      const Tensor input = lm.is_first_stage() ? b.input : received;
      if (!lm.is_last_stage()) return lm.stage_forward(input, inputs_of(b, checkpoint_layers));
      return mul(loss_sum(lm, input, b.target, inputs_of(b, checkpoint_layers), fused_head_loss),
                 1.0 / step_tokens);
    };
  }
  double total = 0;
  for (double l :
       parallel::run_interleaved_1f1b(par.groups->pp(), stages, int64_t(micro.size()), timeline))
    total += l;
  return total;
}

}  // namespace

PackedBatch context_parallel_share(const PackedBatch& b, const ParallelSetup& par) {
  const int cp = par.layout().cp;
  if (cp == 1) return b;
  const int rank = par.coord().cp;
  const int64_t padded = parallel::zigzag_padded_length(b.input.size(1), cp);
  PackedBatch out;
  out.input = parallel::zigzag_take(pad_tokens(b.input, padded, 0), 1, cp, rank);
  out.target = parallel::zigzag_take(pad_tokens(b.target, padded, -100), 1, cp, rank);
  out.segment_ids = parallel::zigzag_take(pad_tokens(b.segment_ids, padded, -1), 1, cp, rank);
  out.positions = parallel::zigzag_take(pad_tokens(b.positions, padded, 0), 1, cp, rank);
  return out;
}

int64_t counted_tokens(const PackedBatch& b) {
  const Tensor t = b.target.to(DType::i64).contiguous();
  const int64_t* p = t.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += p[i] != -100;
  return n;
}

double forward_backward(const plugins::Backbone& lm, const ParallelSetup& par,
                        const std::vector<PackedBatch>& micro, double step_tokens,
                        bool checkpoint_layers, bool fused_head_loss,
                        std::vector<parallel::TimelineEvent>* timeline) {
  if (par.layout().pp == 1) {
    double total = 0;
    for (const PackedBatch& b : micro) {
      Tensor loss =
          mul(loss_sum(lm, b.input, b.target, inputs_of(b, checkpoint_layers), fused_head_loss),
              1.0 / step_tokens);
      total += loss.item();
      loss.backward();
    }
    return total;
  }
  return pipeline_forward_backward({&lm}, par, micro, step_tokens, checkpoint_layers,
                                   fused_head_loss, timeline);
}

double forward_backward(const std::vector<const plugins::Backbone*>& chunks,
                        const ParallelSetup& par, const std::vector<PackedBatch>& micro,
                        double step_tokens, bool checkpoint_layers, bool fused_head_loss,
                        std::vector<parallel::TimelineEvent>* timeline) {
  XOMNI_CHECK(!chunks.empty(), "forward_backward: no model chunks");
  if (chunks.size() == 1)
    return forward_backward(*chunks[0], par, micro, step_tokens, checkpoint_layers, fused_head_loss,
                            timeline);
  return pipeline_forward_backward(chunks, par, micro, step_tokens, checkpoint_layers,
                                   fused_head_loss, timeline);
}

double forward_loss_sum(const plugins::Backbone& lm, const ParallelSetup& par, const PackedBatch& b,
                        bool fused_head_loss) {
  NoGradGuard no_grad;
  const plugins::BackboneInputs in = inputs_of(b, false);
  if (par.layout().pp == 1) return loss_sum(lm, b.input, b.target, in, fused_head_loss).item();
  return forward_loss_sum(std::vector<const plugins::Backbone*>{&lm}, par, b, fused_head_loss);
}

double forward_loss_sum(const std::vector<const plugins::Backbone*>& chunks,
                        const ParallelSetup& par, const PackedBatch& b, bool fused_head_loss) {
  XOMNI_CHECK(!chunks.empty(), "forward_loss_sum: no model chunks");
  if (par.layout().pp == 1) return forward_loss_sum(*chunks[0], par, b, fused_head_loss);
  NoGradGuard no_grad;
  const plugins::BackboneInputs in = inputs_of(b, false);
  // Virtual stage by virtual stage (chunk c of every rank, then chunk c+1, rank p-1 passing to
  // rank 0): receive the hidden states, run this chunk, pass them on. The tag names the receiving
  // chunk.
  parallel::Communicator& pp = par.groups->pp();
  const int p = pp.size(), s = pp.rank();
  Tensor loss = Tensor::zeros({1}, DType::f64);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const plugins::Backbone& lm = *chunks[c];
    Tensor x = b.input;
    if (!lm.is_first_stage()) {
      x = Tensor::empty(activation_shape(lm, par, b));
      pp.recv(x, (s + p - 1) % p, int(c));
    }
    if (lm.is_last_stage())
      loss.fill_(loss_sum(lm, x, b.target, in, fused_head_loss).item());
    else
      pp.send(lm.stage_forward(x, in).contiguous(), (s + 1) % p, int(c) + (s == p - 1 ? 1 : 0));
  }
  pp.broadcast(loss, p - 1);
  return loss.item();
}

}  // namespace xomni::train
