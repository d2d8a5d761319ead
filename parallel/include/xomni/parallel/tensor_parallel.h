#pragma once
// Tensor parallelism's communication as autograd operations (Megatron's conjugate pairs). A layer
// split over the tensor-parallel group brackets its local math with them:
//   copy_to_tp       forward identity,       backward all-reduce
//   reduce_from_tp   forward all-reduce,     backward identity
// and, with sequence parallelism (activations between blocks split along the sequence):
//   gather_sequence          forward all-gather,      backward reduce-scatter
//   reduce_scatter_sequence  forward reduce-scatter,  backward all-gather
//   scatter_sequence         forward keep own chunk,  backward all-gather
// With one rank (no communicator) every operation is the identity.
#include "xomni/core/tensor/tensor.h"
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

struct TensorParallel {
  Communicator* comm = nullptr;    // the tp group; nullptr = one rank
  bool sequence_parallel = false;  // activations outside attention/MLP split along the sequence
  int size() const { return comm ? comm->size() : 1; }
  int rank() const { return comm ? comm->rank() : 0; }
};

Tensor copy_to_tp(const Tensor& x, const TensorParallel& tp);
Tensor reduce_from_tp(const Tensor& x, const TensorParallel& tp);
// `dim` is the sequence dimension; its size (the local one for gather) times tp.size() is the
// full length, which must divide evenly.
Tensor gather_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp);
Tensor reduce_scatter_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp);
Tensor scatter_sequence(const Tensor& x, int64_t dim, const TensorParallel& tp);

}  // namespace xomni::parallel
