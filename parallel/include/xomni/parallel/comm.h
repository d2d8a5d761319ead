#pragma once
// Communicators: the collectives and point-to-point operations the parallel layers use, over MPI
// (CPU memory) or NCCL (GPU memory, CUDA builds). Every rank of a group must issue the same
// collectives in the same order; each collective gets the next sequence number of its group, and
// a rank that waits longer than the timeout throws CommTimeout naming the collective, its sequence
// number and the peers it was waiting on (with what each of them was doing, when they answer)
// instead of hanging forever.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xomni/core/tensor/error.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::parallel {

enum class ReduceOp { sum, max, min };
const char* reduce_op_name(ReduceOp op);

// The kinds of operation, for statistics and error messages.
enum class CommOp { all_reduce, reduce_scatter, all_gather, broadcast, send, recv, barrier };
constexpr int kNumCommOps = 7;
const char* comm_op_name(CommOp op);

struct CommOptions {
  // Seconds a rank waits inside one operation before it gives up; <= 0 waits forever.
  double timeout_s = 600.0;
};

// Per operation kind: how many calls and how many payload bytes this rank passed in. For
// all_reduce and broadcast the payload is the buffer; for reduce_scatter the input; for
// all_gather the output; for send/recv the message.
struct CommStats {
  int64_t calls[kNumCommOps] = {};
  int64_t bytes[kNumCommOps] = {};
  int64_t total_bytes() const;
};

// Thrown when an operation waited past the timeout. what() names the group, the operation, its
// sequence number, the element count and dtype, and each peer that had not completed it.
class CommTimeout : public Error {
 public:
  using Error::Error;
};

// A posted non-blocking operation (Communicator::all_reduce_async and friends). Its buffers must
// stay alive and untouched until it completes. test() advances it without blocking (MPI
// progresses only inside MPI calls, so call it now and then while computing) and says whether it
// is done; wait() blocks until it is, with the communicator's timeout and CommTimeout as the
// blocking operations. Dropping an unfinished request leaves the operation to the backend (MPI
// forbids freeing a collective's request): end the job after such an error.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The group's name in messages, e.g. "tp", "dp", "world".
  const std::string& name() const { return name_; }
  // World ranks of the members, in group-rank order.
  const std::vector<int>& world_ranks() const { return world_ranks_; }

  // Tensor operations: contiguous tensors in the backend's memory (CPU for MPI). In place where
  // it says so; otherwise `out` is written and must already have its size.
  void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);  // in place
  // in.numel() == size() * out.numel(); rank r gets the reduction of chunk r.
  void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op = ReduceOp::sum);
  // out.numel() == size() * in.numel(); chunk r of out is rank r's input.
  void all_gather(const Tensor& in, const Tensor& out);
  void broadcast(const Tensor& t, int root);  // in place
  void send(const Tensor& t, int peer, int tag = 0);
  void recv(const Tensor& t, int peer, int tag = 0);
  // Sends `send` to `send_peer` and receives `recv` from `recv_peer` in one step: both are posted
  // before either is waited on, so two ranks that send each other large messages at the same
  // time (a pipeline's steady state) cannot deadlock. Counted in stats() as one send and one recv.
  void send_recv(const Tensor& send, int send_peer, int send_tag, const Tensor& recv, int recv_peer,
                 int recv_tag);
  void barrier();
  // Non-blocking all_reduce, reduce_scatter and all_gather: the same operation, sequence number and
  // statistics as the blocking form, counted when posted; the result is there once the request
  // completes. Collectives of a group, blocking or not, must be posted in the same order on every
  // rank.
  std::unique_ptr<CommRequest> all_reduce_async(const Tensor& t, ReduceOp op = ReduceOp::sum);
  std::unique_ptr<CommRequest> reduce_scatter_async(const Tensor& in, const Tensor& out,
                                                    ReduceOp op = ReduceOp::sum);
  std::unique_ptr<CommRequest> all_gather_async(const Tensor& in, const Tensor& out);

  // Raw-buffer forms of the same operations (device pointers for NCCL); `count` elements.
  virtual void all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                                  ReduceOp op) = 0;
  virtual void all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) = 0;
  virtual void broadcast_raw(void* data, int64_t count, DType dtype, int root) = 0;
  virtual void send_raw(const void* data, int64_t count, DType dtype, int peer, int tag) = 0;
  virtual void recv_raw(void* data, int64_t count, DType dtype, int peer, int tag) = 0;
  virtual void barrier_raw() = 0;
  // Raw non-blocking forms. This fallback, for backends without their own, runs the blocking
  // operation now and returns a completed request.
  virtual std::unique_ptr<CommRequest> all_reduce_async_raw(void* data, int64_t count, DType dtype,
                                                            ReduceOp op);
  virtual std::unique_ptr<CommRequest> reduce_scatter_async_raw(const void* in, void* out,
                                                                int64_t out_count, DType dtype,
                                                                ReduceOp op);
  virtual std::unique_ptr<CommRequest> all_gather_async_raw(const void* in, void* out,
                                                            int64_t in_count, DType dtype);
  // Both messages have `dtype`. This fallback, for backends without their own, sends and receives
  // one after the other, the lower group rank sending first when both go to the same peer (safe
  // for a pairwise exchange and for a chain; not for a ring). The MPI backend posts both at once.
  virtual void send_recv_raw(const void* send_data, int64_t send_count, int send_peer, int send_tag,
                             void* recv_data, int64_t recv_count, int recv_peer, int recv_tag,
                             DType dtype);

  // Collectives issued on this communicator so far (point-to-point operations not counted).
  int64_t sequence() const { return sequence_; }
  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const CommOptions& options() const { return options_; }

 protected:
  Communicator(std::string name, int rank, int size, std::vector<int> world_ranks,
               CommOptions options);
  // Backends call this at the start of each operation: counts it and returns its sequence
  // number (collectives only advance the sequence).
  int64_t begin(CommOp op, int64_t bytes);

 private:
  std::string name_;
  int rank_, size_;
  std::vector<int> world_ranks_;
  CommOptions options_;
  int64_t sequence_ = 0;
  CommStats stats_;
};

// ---- MPI ----

// Initialises MPI (MPI_THREAD_FUNNELED) unless it already is, so that a program started without
// a launcher runs as a one-rank job (singleton MPI); finalises at exit. Safe to call repeatedly.
void ensure_mpi_initialized();
// World rank and size (0 and 1 before MPI is initialised).
int world_rank();
int world_size();
// Stops every rank of the job: prints `message` with this rank's number on stderr, then
// MPI_Abort. For errors one rank finds that the others cannot know about.
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

class MpiCommunicator;
// The world communicator (a duplicate of MPI_COMM_WORLD, so its traffic cannot mix with anyone
// else's).
std::unique_ptr<MpiCommunicator> mpi_world(CommOptions options = {});

}  // namespace xomni::parallel
