#pragma once
// The MPI backend: CPU buffers, non-blocking MPI collectives polled against the timeout. While a
// rank waits it also answers status queries from peers that timed out, so their error can say
// which operation this rank is in.
#include <mpi.h>

#include "xomni/parallel/comm.h"

namespace xomni::parallel {

struct OpDesc;  // an operation as messages describe it (mpi_comm_impl.h)

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (freed on destruction); `world_ranks` as in Communicator.
  // Collective over `comm` (it duplicates it for the status-query channel).
  // After a CommTimeout the communicator refuses further operations, and its destructor leaves
  // the stuck request (and `comm`) to MPI: the timed-out operation's buffer may still be written
  // if the missing peers join later, so keep it alive or end the job (abort_job).
  MpiCommunicator(MPI_Comm comm, std::string name, CommOptions options);
  ~MpiCommunicator() override;

  MPI_Comm handle() const { return comm_; }
  // A sub-communicator (MPI_Comm_split; collective over this one, blocking without timeout) with
  // this one's options; nullptr on ranks that pass a negative colour.
  std::unique_ptr<MpiCommunicator> split(int color, int key, std::string name) const;

  void all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                          ReduceOp op) override;
  void all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) override;
  void broadcast_raw(void* data, int64_t count, DType dtype, int root) override;
  void send_raw(const void* data, int64_t count, DType dtype, int peer, int tag) override;
  void recv_raw(void* data, int64_t count, DType dtype, int peer, int tag) override;
  void barrier_raw() override;
  // Posted like the blocking forms (same MPI call, same algorithm choice, so the same bits);
  // the request must not outlive this communicator.
  std::unique_ptr<CommRequest> all_reduce_async_raw(void* data, int64_t count, DType dtype,
                                                    ReduceOp op) override;
  std::unique_ptr<CommRequest> reduce_scatter_async_raw(const void* in, void* out,
                                                        int64_t out_count, DType dtype,
                                                        ReduceOp op) override;
  std::unique_ptr<CommRequest> all_gather_async_raw(const void* in, void* out, int64_t in_count,
                                                    DType dtype) override;
  // MPI_Isend and MPI_Irecv posted together, then each waited for (with the timeout each).
  void send_recv_raw(const void* send_data, int64_t send_count, int send_peer, int send_tag,
                     void* recv_data, int64_t recv_count, int recv_peer, int recv_tag,
                     DType dtype) override;

 private:
  MPI_Request post_all_reduce(void* data, int64_t count, DType dtype, ReduceOp op, OpDesc& desc);
  MPI_Request post_reduce_scatter(const void* in, void* out, int64_t out_count, DType dtype,
                                  ReduceOp op, OpDesc& desc);
  MPI_Request post_all_gather(const void* in, void* out, int64_t in_count, DType dtype,
                              OpDesc& desc);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  MPI_Comm comm_;
};

}  // namespace xomni::parallel
