#pragma once
// Megatron-style tensor-parallel layers. Each holds its piece of a global weight (Sharding says
// which), initialised to exactly the values one process would draw for the whole weight, so a
// model is the same function under any tensor-parallel size.
//   ColumnParallelLinear  weight [out/tp, in]: each rank computes out/tp output features.
//   RowParallelLinear     weight [out, in/tp]: each rank consumes in/tp input features; partial
//                         outputs are summed over the group (or reduce-scattered along the
//                         sequence with sequence parallelism); the bias is added after the sum.
//   VocabParallelEmbedding weight [V/tp, d]: each rank looks up the ids in its vocabulary range.
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/tensor_parallel.h"

namespace xomni::parallel {

class ColumnParallelLinear : public nn::Module {
 public:
  ColumnParallelLinear(int64_t in, int64_t out, bool bias, const TensorParallel& tp, Generator& gen,
                       double init_std = 0.02);
  // x [..., S, in] (the local sequence chunk under sequence parallelism, S on `seq_dim`) ->
  // [..., S_full, out/tp].
  Tensor operator()(const Tensor& x, int64_t seq_dim = 1) const;
  // The local product alone, for an input already passed through column_input() (several
  // column-parallel layers reading one input, like Q/K/V, share one communication).
  Tensor local(const Tensor& input) const;
  const Tensor& weight() const { return *weight_; }

 private:
  TensorParallel tp_;
  Tensor* weight_;
  Tensor* bias_ = nullptr;
};

// What a column-parallel layer's input goes through: copy_to_tp, or gather_sequence along
// `seq_dim` under sequence parallelism.
Tensor column_input(const Tensor& x, const TensorParallel& tp, int64_t seq_dim = 1);

class RowParallelLinear : public nn::Module {
 public:
  RowParallelLinear(int64_t in, int64_t out, bool bias, const TensorParallel& tp, Generator& gen,
                    double init_std = 0.02);
  // x [..., S_full, in/tp] -> [..., S, out] (S the local chunk under sequence parallelism).
  Tensor operator()(const Tensor& x, int64_t seq_dim = 1) const;

 private:
  TensorParallel tp_;
  Tensor* weight_;
  Tensor* bias_ = nullptr;
};

class VocabParallelEmbedding : public nn::Module {
 public:
  VocabParallelEmbedding(int64_t vocab, int64_t dim, const TensorParallel& tp, Generator& gen,
                         double init_std = 0.02);
  // ids [B, S_full] -> [B, S, dim] (S the local chunk under sequence parallelism).
  Tensor operator()(const Tensor& ids) const;
  const Tensor& weight() const { return *weight_; }  // [vocab/tp, dim]
  int64_t vocab_start() const { return vocab_start_; }

 private:
  TensorParallel tp_;
  Tensor* weight_;
  int64_t vocab_start_;
};

// Rows of `weight` [V_local, d] for the ids in [vocab_start, vocab_start + V_local), zeros for
// the others; the gradient flows to the looked-up rows only.
Tensor embedding_range(const Tensor& weight, const Tensor& ids, int64_t vocab_start);

// Cross-entropy over a vocabulary split across the tensor-parallel group without gathering the
// logits: logits [N, V/tp] (this rank's vocabulary range starting at vocab_start), targets [N]
// global ids (ignore_index rows give 0). Three all-reduces (row max, sum of exponentials, target
// logit). Returns the per-row losses [N]; every rank gets the same values.
Tensor vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& targets,
                                    int64_t vocab_start, const TensorParallel& tp,
                                    int64_t ignore_index = -100);

}  // namespace xomni::parallel
