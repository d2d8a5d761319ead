// Column- and row-parallel linear layers.
#include "xomni/core/ops/ops.h"
#include "xomni/parallel/tp_layers.h"

namespace xomni::parallel {
namespace {
Tensor zero_leaf(const Shape& shape) {
  Tensor t = Tensor::zeros(shape);
  t.set_requires_grad();
  return t;
}
}  // namespace

ColumnParallelLinear::ColumnParallelLinear(int64_t in, int64_t out, bool bias,
                                           const TensorParallel& tp, Generator& gen,
                                           double init_std)
    : tp_(tp) {
  const nn::Sharding rows{0, tp.size(), tp.rank()};
  weight_ = &register_parameter("weight",
                                nn::normal_parameter_shard({out, in}, rows, init_std, gen), rows);
  if (bias) bias_ = &register_parameter("bias", zero_leaf(nn::shard_shape({out}, rows)), rows);
}

Tensor column_input(const Tensor& x, const TensorParallel& tp, int64_t seq_dim) {
  return tp.sequence_parallel ? gather_sequence(x, seq_dim, tp) : copy_to_tp(x, tp);
}

Tensor ColumnParallelLinear::operator()(const Tensor& x, int64_t seq_dim) const {
  return local(column_input(x, tp_, seq_dim));
}

Tensor ColumnParallelLinear::local(const Tensor& input) const {
  return linear(input, *weight_, bias_ ? *bias_ : Tensor());
}

RowParallelLinear::RowParallelLinear(int64_t in, int64_t out, bool bias, const TensorParallel& tp,
                                     Generator& gen, double init_std)
    : tp_(tp) {
  const nn::Sharding cols{1, tp.size(), tp.rank()};
  weight_ = &register_parameter("weight",
                                nn::normal_parameter_shard({out, in}, cols, init_std, gen), cols);
  // The bias is whole on every rank; under sequence parallelism each rank adds it to its own
  // sequence chunk, so its gradient is partial.
  nn::Sharding replica;
  replica.partial_grad = tp.sequence_parallel && tp.size() > 1;
  if (bias) bias_ = &register_parameter("bias", zero_leaf({out}), replica);
}

Tensor RowParallelLinear::operator()(const Tensor& x, int64_t seq_dim) const {
  const Tensor partial = linear(x, *weight_);
  Tensor y = tp_.sequence_parallel ? reduce_scatter_sequence(partial, seq_dim, tp_)
                                   : reduce_from_tp(partial, tp_);
  return bias_ ? add(y, *bias_) : y;
}

}  // namespace xomni::parallel
