#pragma once
// core's CheckpointGroup over an MPI communicator: a parallel checkpoint's broadcasts and sums go
// through Communicator::broadcast_raw and all_reduce_raw (counted, sequenced and time-limited like
// every other collective); HDF5's MPI-IO driver opens the file over the communicator's handle.
#include "xomni/core/io/checkpoint_group.h"
#include "xomni/parallel/mpi_comm.h"

namespace xomni::parallel {

class CommCheckpointGroup final : public CheckpointGroup {
 public:
  // `comm` must outlive this group.
  explicit CommCheckpointGroup(MpiCommunicator& comm) : comm_(comm) {}

  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void broadcast(void* data, int64_t bytes, int root) override;
  void sum(int64_t* data, int64_t count) override;
  MPI_Comm mpi_comm() const override { return comm_.handle(); }

 private:
  MpiCommunicator& comm_;
};

}  // namespace xomni::parallel
