// Parameter counts, FLOPs and layout validity of the LM stage's backbones (plugins/qwen2,
// plugins/xomni), in closed form.
#include <algorithm>
#include <string>

#include "plan/step_model.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/pipeline.h"

namespace xomni::plan {
namespace {

int64_t head_dim(const PlanModel& m) {
  return m.hidden / m.heads;
}

// One decoder layer: q, k, v (with biases), o, gate, up, down, two RMSNorm weights. `tp` splits
// every projection; the norms are replicas.
int64_t layer_parameters(const PlanModel& m, int tp) {
  const int64_t hd = head_dim(m), h = m.hidden;
  const int64_t q = m.heads * hd, kv = m.kv_heads * hd;
  const int64_t attention = (h * q + q) + 2 * (h * kv + kv) + q * h;
  const int64_t mlp = 3 * h * m.intermediate;
  return (attention + mlp) / tp + 2 * h;
}

// Embedding rows of the first stage, and of the last: norm and head (none when tied).
int64_t embedding_parameters(const PlanModel& m, int tp) {
  return (m.vocab + (m.xomni ? m.mm_vocab : 0)) * m.hidden / tp;
}
int64_t head_parameters(const PlanModel& m, int tp) {
  const int norms = m.xomni ? 2 : 1;
  const int64_t head =
      m.tie_embeddings ? 0 : (m.vocab + (m.xomni ? m.mm_vocab : 0)) * m.hidden / tp;
  return norms * m.hidden + head;
}

}  // namespace

int64_t total_parameters(const PlanModel& m) {
  return embedding_parameters(m, 1) + m.layers * layer_parameters(m, 1) + head_parameters(m, 1);
}

int64_t layer_parameters(const PlanModel& m) {
  PlanModel no_layers = m;
  no_layers.layers = 0;
  return total_parameters(m) - total_parameters(no_layers);
}

int64_t stage_layer_count(const PlanModel& m, const parallel::Layout& layout, int stage,
                          int virtual_stages) {
  const int p = layout.pp, v = virtual_stages;
  const auto ranges = parallel::split_layers(m.layers, p * v, {}, "plan");
  int64_t n = 0;
  for (int c = 0; c < v; ++c) {
    const auto [begin, end] = ranges.at(size_t(c * p + stage));
    n += end - begin;
  }
  return n;
}

int64_t stage_parameters(const PlanModel& m, const parallel::Layout& layout, int stage,
                         int virtual_stages) {
  int64_t n = stage_layer_count(m, layout, stage, virtual_stages) * layer_parameters(m, layout.tp);
  if (stage == 0) n += embedding_parameters(m, layout.tp);
  if (stage == layout.pp - 1) n += head_parameters(m, layout.tp);
  return n;
}

int64_t local_seq_len(const PlanJob& job, int cp) {
  return cp == 1 ? job.seq_len : parallel::zigzag_padded_length(job.seq_len, cp) / cp;
}

int64_t activations_in_flight(const PlanJob& job, const parallel::Layout& l, int stage) {
  const int64_t p = l.pp, v = job.virtual_stages, m = job.micro_batches;
  if (v == 1) return std::min<int64_t>(p - stage, m);
  return std::min<int64_t>(2 * (p - stage - 1) + (v - 1) * p + 1, m * v);
}

double step_flops(const PlanJob& job) {
  // As the backbones' flops_per_token: 6 per parameter plus the causal attention products
  // (12 * layers * hidden * T / 2), per token of the step.
  const PlanModel& m = job.model;
  const double per_token =
      6.0 * double(total_parameters(m)) + 12.0 * double(m.layers * m.hidden * job.seq_len) / 2.0;
  return per_token * double(job.tokens_per_step());
}

double bubble_fraction(int pp, int64_t micro_batches, int virtual_stages) {
  XOMNI_CHECK(pp >= 1 && micro_batches >= 1 && virtual_stages >= 1,
              "bubble_fraction: pp, micro-batches and virtual stages must be >= 1, got ", pp, ", ",
              micro_batches, ", ", virtual_stages);
  return double(pp - 1) / double(virtual_stages * micro_batches + pp - 1);
}

std::string layout_problem(const PlanJob& job, const parallel::Layout& l) {
  const PlanModel& m = job.model;
  try {
    parallel::ModelDims d;
    d.num_attention_heads = m.heads;
    d.num_key_value_heads = m.kv_heads;
    d.vocab_size = m.vocab;
    d.intermediate_size = m.intermediate;
    d.num_hidden_layers = m.layers;
    parallel::check_model_fits(l, d, job.source, job.virtual_stages);
  } catch (const Error& e) {
    return e.what();
  }
  const std::string where = job.source + " [parallel]: ";
  if (m.xomni && m.mm_vocab % l.tp != 0)
    return where + "tp=" + std::to_string(l.tp) +
           " does not divide model.mm_vocab_size=" + std::to_string(m.mm_vocab);
  if (job.virtual_stages > 1 && job.micro_batches % l.pp != 0)
    return where + "virtual_stages=" + std::to_string(job.virtual_stages) +
           " needs train.grad_accum=" + std::to_string(job.micro_batches) +
           " to be a multiple of pp=" + std::to_string(l.pp);
  if (job.batch_size % l.dp != 0)
    return where + "dp=" + std::to_string(l.dp) +
           " does not divide train.batch_size=" + std::to_string(job.batch_size);
  if (l.pp > 1 && m.tie_embeddings)
    return where + "pp=" + std::to_string(l.pp) + " with tie_word_embeddings = true";
  if (m.xomni && l.pp > 1) {
    const auto ranges = parallel::split_layers(m.layers, l.pp * job.virtual_stages, {}, job.source);
    if (ranges.front().second < m.mm_adap_layers ||
        ranges.back().first > m.layers - m.mm_head_layers)
      return where + l.str() + " splits X-Omni's vision layers over stages";
  }
  if (job.sequence_parallel && l.tp > 1) {
    // As LmStage checks it (the padded length even at cp = 1).
    const int64_t cp_len = parallel::zigzag_padded_length(job.seq_len, l.cp) / l.cp;
    if (cp_len % l.tp != 0)
      return where + "sequence parallelism needs tp=" + std::to_string(l.tp) +
             " to divide the local sequence of " + std::to_string(cp_len) + " tokens";
  }
  return "";
}

}  // namespace xomni::plan
