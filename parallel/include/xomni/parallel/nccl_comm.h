#pragma once
// The NCCL backend (CUDA builds where NCCL was found; XOMNI_HAVE_NCCL is then defined): device
// buffers on this rank's GPU, one CUDA stream per communicator. Each operation is enqueued on that
// stream and then polled (stream completion and NCCL's asynchronous error) with short sleeps;
// when the timeout passes the NCCL communicator is aborted and CommTimeout names the group, the
// operation and its sequence number. An aborted communicator refuses further operations.
//
// The operations return when the GPU has finished them, so buffers may be reused at once; kernels
// on other streams that produce or consume the buffers must be ordered by the caller (stream()).
#include <memory>
#include <string>

#include "xomni/parallel/comm.h"
#include "xomni/parallel/mpi_comm.h"

// cudaStream_t is `CUstream_st*`; declared here so that this header does not need the CUDA headers.
struct CUstream_st;

namespace xomni::parallel {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `over` (same name and options on every rank): selects this process's GPU
  // (local rank modulo the device count, the local rank from OMPI_COMM_WORLD_LOCAL_RANK or
  // SLURM_LOCALID, else from the ranks of `over` that share this node, computed once per process:
  // build the first NcclCommunicator over the world), then rank 0 of `over` makes an NCCL id,
  // MPI_Bcast spreads it and every rank joins with ncclCommInitRank. Ranks and world ranks are
  // those of `over`. Throws on every rank when any rank has no usable GPU.
  NcclCommunicator(const MpiCommunicator& over, std::string name, CommOptions options = {});
  ~NcclCommunicator() override;

  // The CUDA device this communicator uses and the stream its operations run on (a cudaStream_t).
  int device() const;
  CUstream_st* stream() const;
  // True after an operation timed out or failed and the NCCL communicator was aborted.
  bool aborted() const;

  // Device pointers (cudaMalloc or managed memory on device()); host memory is refused with an
  // Error. NCCL has no message tags: `tag` is ignored, and messages between two ranks match in
  // the order they were sent.
  void all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) override;
  void reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                          ReduceOp op) override;
  void all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) override;
  void broadcast_raw(void* data, int64_t count, DType dtype, int root) override;
  void send_raw(const void* data, int64_t count, DType dtype, int peer, int tag) override;
  void recv_raw(void* data, int64_t count, DType dtype, int peer, int tag) override;
  // A one-element all-reduce (NCCL has no barrier).
  void barrier_raw() override;
  // The send and the receive in one NCCL group (ncclGroupStart/End), so every rank of a ring
  // posts both before either blocks: safe for a ring of any size (interleaved 1F1B, ring
  // attention), where the base class's one-after-the-other fallback is not. Counted as one send
  // and one receive.
  void send_recv_raw(const void* send_data, int64_t send_count, int send_peer, int send_tag,
                     void* recv_data, int64_t recv_count, int recv_peer, int recv_tag,
                     DType dtype) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xomni::parallel
