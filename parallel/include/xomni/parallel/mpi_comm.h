#pragma once
// The MPI backend: CPU buffers, non-blocking MPI collectives polled against the timeout. While a
// rank waits it also answers status queries from peers that timed out, so their error can say
// which operation this rank is in.
#include <mpi.h>

#include "xomni/core/checkpoint.h"  // MpiComm (defined because mpi.h came first)
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (freed on destruction); `world_ranks` as in Communicator.
  MpiCommunicator(MPI_Comm comm, std::string name, CommOptions options);
  ~MpiCommunicator() override;

  MPI_Comm handle() const { return comm_; }
  // For the parallel checkpoint writer and reader.
  MpiComm checkpoint_comm() const { return MpiComm{comm_}; }
  // A sub-communicator (MPI_Comm_split; collective over this one).
  std::unique_ptr<MpiCommunicator> split(int color, int key, std::string name) const;

  void all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                          ReduceOp op) override;
  void all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) override;
  void broadcast_raw(void* data, int64_t count, DType dtype, int root) override;
  void send_raw(const void* data, int64_t count, DType dtype, int peer, int tag) override;
  void recv_raw(void* data, int64_t count, DType dtype, int peer, int tag) override;
  void barrier_raw() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  MPI_Comm comm_;
};

}  // namespace xomni::parallel
