#pragma once
// MpiCommunicator's private state and the polling machinery shared by its source files:
// the wait loop (progress, back-off, timeout), the status-query protocol on the control
// communicator, and the timeout report.
#include <list>
#include <string>

#include "xomni/parallel/mpi_comm.h"

namespace xomni::parallel {

// True between MPI_Init and MPI_Finalize.
bool mpi_usable();
// Throws an Error naming `where` with MPI's text for a failed return code.
void mpi_check(int rc, const std::string& where);

// One operation as the messages describe it.
struct OpDesc {
  CommOp op = CommOp::barrier;
  int64_t seq = 0;  // for collectives, the sequence number begin() returned
  DType dtype = DType::f32;
  int64_t count = 0;  // elements (per rank for reduce_scatter / all_gather)
  ReduceOp reduce = ReduceOp::sum;
  int peer = -1;  // broadcast root, send/recv peer (group ranks)
  int tag = 0;
};

bool is_collective(CommOp op);

// The state behind MpiCommunicator::Impl (a plain struct so the process-wide registry of
// communicators can hold it).
struct CommState {
  MpiCommunicator* self = nullptr;
  // A private duplicate for status queries and their replies, so they never mix with data.
  MPI_Comm control = MPI_COMM_NULL;
  bool active = false;  // inside an operation; `cur` describes it
  OpDesc cur;
  bool broken = false;  // an operation timed out; `cur` describes it
  int64_t next_query_id = 1;
  // Replies to other ranks' queries still being sent (buffers must outlive the send).
  struct Reply;
  std::list<Reply> replies;

  explicit CommState(MpiCommunicator* s);
  ~CommState();
  CommState(const CommState&) = delete;
  CommState& operator=(const CommState&) = delete;

  // "collective #7 all_reduce (f32 x 1024, sum)" / "send to rank 1 (world 1), tag 0 (f32 x 8)".
  std::string describe(const OpDesc& d) const;
  // "rank 1 (world 1)"
  std::string rank_str(int group_rank) const;

  // Marks this operation as current (for status replies) until finish() or a throw.
  void start(const OpDesc& d);
  void finish();
  // Polls `req` until it completes, answering status queries while it waits; throws
  // CommTimeout (and marks the communicator broken) when the timeout expires.
  void wait(MPI_Request& req, MPI_Status* status);
  // Throws when a previous operation timed out.
  void check_usable(const char* op) const;

  // Answers pending status queries on this communicator's control channel.
  void answer_queries();
  [[noreturn]] void fail_timeout(double waited_s);
};

struct MpiCommunicator::Impl : CommState {
  using CommState::CommState;
};

// Answers status queries on every live MpiCommunicator of this process (a rank stuck in one
// group must still say what it is doing to peers of another group).
void answer_all_queries();

}  // namespace xomni::parallel
