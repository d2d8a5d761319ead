// The backend-independent half of Communicator: tensor checks, names, sequence and statistics.
#include <utility>

#include "xomni/core/tensor/profiler.h"
#include "xomni/parallel/comm.h"

namespace xomni::parallel {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::max:
      return "max";
    case ReduceOp::min:
      return "min";
  }
  return "?";
}

const char* comm_op_name(CommOp op) {
  static const char* names[kNumCommOps] = {
      "all_reduce", "reduce_scatter", "all_gather", "broadcast", "send", "recv", "barrier"};
  return names[int(op)];
}

int64_t CommStats::total_bytes() const {
  int64_t sum = 0;
  for (int64_t b : bytes) sum += b;
  return sum;
}

Communicator::Communicator(std::string name, int rank, int size, std::vector<int> world_ranks,
                           CommOptions options)
    : name_(std::move(name)),
      rank_(rank),
      size_(size),
      world_ranks_(std::move(world_ranks)),
      options_(options) {}

int64_t Communicator::begin(CommOp op, int64_t bytes) {
  stats_.calls[int(op)] += 1;
  stats_.bytes[int(op)] += bytes;
  if (op == CommOp::send || op == CommOp::recv) return sequence_;
  return sequence_++;
}

namespace {
void check_buffer(const Communicator& c, const char* op, const char* what, const Tensor& t) {
  XOMNI_CHECK(t.defined() && t.is_contiguous(), c.name(), " ", op, ": the ", what,
              " tensor must be defined and contiguous");
}
void check_reduce_scatter(const Communicator& c, const Tensor& in, const Tensor& out) {
  check_buffer(c, "reduce_scatter", "input", in);
  check_buffer(c, "reduce_scatter", "output", out);
  XOMNI_CHECK(in.dtype() == out.dtype() && in.numel() == out.numel() * c.size(), c.name(),
              " reduce_scatter: input has ", in.numel(), " elements, expected ", c.size(), " x ",
              out.numel(), " of the output's dtype");
}
// A message's size for the profiler (0 for an undefined tensor: its check throws after).
double bytes_of(const Tensor& t) {
  return t.defined() ? double(t.numel()) * double(dtype_size(t.dtype())) : 0.0;
}
}  // namespace

void Communicator::all_reduce(const Tensor& t, ReduceOp op) {
  profiler::Scope scope("comm.all_reduce", 0, bytes_of(t));
  check_buffer(*this, "all_reduce", "buffer", t);
  all_reduce_raw(t.raw_data(), t.numel(), t.dtype(), op);
}

void Communicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  profiler::Scope scope("comm.reduce_scatter", 0, bytes_of(in));
  check_reduce_scatter(*this, in, out);
  reduce_scatter_raw(in.raw_data(), out.raw_data(), out.numel(), out.dtype(), op);
}

void check_all_gather(const Communicator& c, const Tensor& in, const Tensor& out) {
  check_buffer(c, "all_gather", "input", in);
  check_buffer(c, "all_gather", "output", out);
  XOMNI_CHECK(in.dtype() == out.dtype() && out.numel() == in.numel() * c.size(), c.name(),
              " all_gather: output has ", out.numel(), " elements, expected ", c.size(), " x ",
              in.numel(), " of the input's dtype");
}

void Communicator::all_gather(const Tensor& in, const Tensor& out) {
  profiler::Scope scope("comm.all_gather", 0, bytes_of(out));
  check_all_gather(*this, in, out);
  all_gather_raw(in.raw_data(), out.raw_data(), in.numel(), in.dtype());
}

void Communicator::broadcast(const Tensor& t, int root) {
  profiler::Scope scope("comm.broadcast", 0, bytes_of(t));
  check_buffer(*this, "broadcast", "buffer", t);
  broadcast_raw(t.raw_data(), t.numel(), t.dtype(), root);
}

void Communicator::send(const Tensor& t, int peer, int tag) {
  profiler::Scope scope("comm.send", 0, bytes_of(t));
  check_buffer(*this, "send", "message", t);
  send_raw(t.raw_data(), t.numel(), t.dtype(), peer, tag);
}

void Communicator::recv(const Tensor& t, int peer, int tag) {
  profiler::Scope scope("comm.recv", 0, bytes_of(t));
  check_buffer(*this, "recv", "message", t);
  recv_raw(t.raw_data(), t.numel(), t.dtype(), peer, tag);
}

void Communicator::send_recv(const Tensor& send, int send_peer, int send_tag, const Tensor& recv,
                             int recv_peer, int recv_tag) {
  profiler::Scope scope("comm.send_recv", 0, bytes_of(send) + bytes_of(recv));
  check_buffer(*this, "send_recv", "send", send);
  check_buffer(*this, "send_recv", "receive", recv);
  XOMNI_CHECK(send.dtype() == recv.dtype(), name(), " send_recv: the send tensor is ",
              dtype_name(send.dtype()), " but the receive tensor is ", dtype_name(recv.dtype()));
  send_recv_raw(send.raw_data(), send.numel(), send_peer, send_tag, recv.raw_data(), recv.numel(),
                recv_peer, recv_tag, send.dtype());
}

void Communicator::send_recv_raw(const void* send_data, int64_t send_count, int send_peer,
                                 int send_tag, void* recv_data, int64_t recv_count, int recv_peer,
                                 int recv_tag, DType dtype) {
  if (send_peer == recv_peer && rank() > send_peer) {
    recv_raw(recv_data, recv_count, dtype, recv_peer, recv_tag);
    send_raw(send_data, send_count, dtype, send_peer, send_tag);
  } else {
    send_raw(send_data, send_count, dtype, send_peer, send_tag);
    recv_raw(recv_data, recv_count, dtype, recv_peer, recv_tag);
  }
}

namespace {
class CompletedRequest final : public CommRequest {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<CommRequest> Communicator::all_reduce_async(const Tensor& t, ReduceOp op) {
  // The same row as the blocking form (its bytes count once); the phase tells them apart.
  profiler::Scope scope("comm.all_reduce", 0, bytes_of(t));
  check_buffer(*this, "all_reduce", "buffer", t);
  return all_reduce_async_raw(t.raw_data(), t.numel(), t.dtype(), op);
}

std::unique_ptr<CommRequest> Communicator::reduce_scatter_async(const Tensor& in, const Tensor& out,
                                                                ReduceOp op) {
  profiler::Scope scope("comm.reduce_scatter", 0, bytes_of(in));
  check_reduce_scatter(*this, in, out);
  return reduce_scatter_async_raw(in.raw_data(), out.raw_data(), out.numel(), out.dtype(), op);
}

std::unique_ptr<CommRequest> Communicator::all_gather_async(const Tensor& in, const Tensor& out) {
  profiler::Scope scope("comm.all_gather", 0, bytes_of(out));
  check_all_gather(*this, in, out);
  return all_gather_async_raw(in.raw_data(), out.raw_data(), in.numel(), in.dtype());
}

std::unique_ptr<CommRequest> Communicator::all_reduce_async_raw(void* data, int64_t count,
                                                                DType dtype, ReduceOp op) {
  all_reduce_raw(data, count, dtype, op);
  return std::make_unique<CompletedRequest>();
}

std::unique_ptr<CommRequest> Communicator::reduce_scatter_async_raw(const void* in, void* out,
                                                                    int64_t out_count, DType dtype,
                                                                    ReduceOp op) {
  reduce_scatter_raw(in, out, out_count, dtype, op);
  return std::make_unique<CompletedRequest>();
}

std::unique_ptr<CommRequest> Communicator::all_gather_async_raw(const void* in, void* out,
                                                                int64_t in_count, DType dtype) {
  all_gather_raw(in, out, in_count, dtype);
  return std::make_unique<CompletedRequest>();
}

void Communicator::barrier() {
  profiler::Scope scope("comm.barrier");
  barrier_raw();
}

}  // namespace xomni::parallel
