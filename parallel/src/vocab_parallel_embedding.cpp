// The vocabulary-parallel embedding: each rank holds rows [start, start + V/tp) of the table.
#include <cstring>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/tp_layers.h"

namespace xomni::parallel {

Tensor embedding_range(const Tensor& weight_in, const Tensor& ids_in, int64_t vocab_start) {
  XOMNI_CHECK(weight_in.dim() == 2 && weight_in.dtype() == DType::f32,
              "embedding_range: weight must be a 2-D f32 table, got ",
              shape_str(weight_in.shape()));
  const Tensor weight = weight_in.contiguous();
  const Tensor ids = ids_in.to(DType::i64).contiguous();
  const int64_t V = weight.size(0), D = weight.size(1), n = ids.numel();
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::zeros(out_shape);
  const int64_t* id = ids.data<int64_t>();
  const float* w = weight.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = id[i] - vocab_start;
    if (row >= 0 && row < V) std::memcpy(o + i * D, w + row * D, size_t(D) * sizeof(float));
  }
  return record(out, "embedding_range", {weight_in},
                [ids, V, D, vocab_start](const Tensor& g_in,
                                         const std::vector<bool>&) -> std::vector<Tensor> {
                  const Tensor g = g_in.contiguous();
                  Tensor gw = Tensor::zeros({V, D});
                  const int64_t* idp = ids.data<int64_t>();
                  const float* gp = g.data<float>();
                  float* gwp = gw.data<float>();
                  // Tokens in order, so repeated ids accumulate in a fixed order.
                  for (int64_t i = 0; i < ids.numel(); ++i) {
                    const int64_t row = idp[i] - vocab_start;
                    if (row < 0 || row >= V) continue;
                    for (int64_t d = 0; d < D; ++d) gwp[row * D + d] += gp[i * D + d];
                  }
                  return {gw};
                });
}

VocabParallelEmbedding::VocabParallelEmbedding(int64_t vocab, int64_t dim, const TensorParallel& tp,
                                               Generator& gen, double init_std)
    : tp_(tp) {
  const nn::Sharding rows{0, tp.size(), tp.rank()};
  weight_ = &register_parameter(
      "weight", nn::normal_parameter_shard({vocab, dim}, rows, init_std, gen), rows);
  vocab_start_ = tp.rank() * weight_->size(0);
}

Tensor VocabParallelEmbedding::operator()(const Tensor& ids) const {
  if (tp_.size() == 1) return embedding(*weight_, ids);
  const Tensor partial = embedding_range(*weight_, ids, vocab_start_);
  return tp_.sequence_parallel ? reduce_scatter_sequence(partial, 1, tp_)
                               : reduce_from_tp(partial, tp_);
}

}  // namespace xomni::parallel
