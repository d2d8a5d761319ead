// MpiCommunicator: each operation posts a non-blocking MPI call and hands the request to
// Impl::wait (mpi_wait.cpp), which polls it against the timeout.
#include <climits>
#include <sstream>

#include "mpi_comm_impl.h"

namespace xomni::parallel {

namespace {

int comm_rank(MPI_Comm c) {
  XOMNI_CHECK(c != MPI_COMM_NULL, "MpiCommunicator: the communicator is MPI_COMM_NULL");
  int r = 0;
  mpi_check(MPI_Comm_rank(c, &r), "MpiCommunicator: MPI_Comm_rank");
  return r;
}

int comm_size(MPI_Comm c) {
  int n = 0;
  mpi_check(MPI_Comm_size(c, &n), "MpiCommunicator: MPI_Comm_size");
  return n;
}

std::vector<int> comm_world_ranks(MPI_Comm c) {
  int n = comm_size(c);
  std::vector<int> mine(size_t(n), 0), world(size_t(n), 0);
  for (int i = 0; i < n; ++i) mine[size_t(i)] = i;
  MPI_Group g = MPI_GROUP_NULL, wg = MPI_GROUP_NULL;
  mpi_check(MPI_Comm_group(c, &g), "MpiCommunicator: MPI_Comm_group");
  mpi_check(MPI_Comm_group(MPI_COMM_WORLD, &wg), "MpiCommunicator: MPI_Comm_group");
  int rc = MPI_Group_translate_ranks(g, n, mine.data(), wg, world.data());
  MPI_Group_free(&g);
  MPI_Group_free(&wg);
  mpi_check(rc, "MpiCommunicator: MPI_Group_translate_ranks");
  return world;
}

// bf16/f16 travel as raw 16-bit words: fine for moving data, meaningless for arithmetic.
MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::bf16:
    case DType::f16:
      return MPI_UINT16_T;
    case DType::i32:
      return MPI_INT32_T;
    case DType::i64:
      return MPI_INT64_T;
    case DType::u8:
      return MPI_UINT8_T;
  }
  throw Error("MpiCommunicator: unknown dtype");
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return MPI_SUM;
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::min:
      return MPI_MIN;
  }
  throw Error("MpiCommunicator: unknown reduce op");
}

// Open MPI's libnbc runs MPI_Iallreduce as a binomial tree below 4 ranks or in place: 16 MiB at 2
// ranks took ~2.5x as long as blocking MPI_Allreduce here, while its Rabenseifner algorithm
// (reduce-scatter + all-gather) matches it. The choice is an MPI_T control variable read when the
// operation is posted, so large all_reduces set it around the post and restore it at once. Every
// rank decides from the same byte count, so all pick the same algorithm. Without the variable
// (another MPI) or when the user chose an algorithm (non-zero at start), nothing is changed.
class IallreduceAlgorithm {
 public:
  static constexpr int kRabenseifner = 3;
  static constexpr int64_t kMinBytes = 64 << 10;

  static IallreduceAlgorithm& get() {
    static IallreduceAlgorithm a;
    return a;
  }
  bool usable() const { return usable_; }
  void set(int alg) {
    if (usable_) MPI_T_cvar_write(handle_, &alg);
  }
  void restore() { set(original_); }

 private:
  IallreduceAlgorithm() {
    int provided = 0, index = 0, count = 0;
    if (MPI_T_init_thread(MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
    if (MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) != MPI_SUCCESS) return;
    if (MPI_T_cvar_handle_alloc(index, nullptr, &handle_, &count) != MPI_SUCCESS || count != 1)
      return;
    usable_ = MPI_T_cvar_read(handle_, &original_) == MPI_SUCCESS && original_ == 0;
  }
  bool usable_ = false;
  MPI_T_cvar_handle handle_{};
  int original_ = 0;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name, CommOptions options)
    : Communicator(std::move(name), comm_rank(comm), comm_size(comm), comm_world_ranks(comm),
                   options),
      comm_(comm) {
  // Errors come back as codes and become exceptions with context.
  mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN),
            this->name() + ": MPI_Comm_set_errhandler");
  impl_ = std::make_unique<Impl>(this);
}

MpiCommunicator::~MpiCommunicator() {
  bool broken = impl_ && impl_->broken;
  impl_.reset();
  // A timed-out operation may still reference comm_ (its request cannot be freed or cancelled),
  // so a broken communicator is left to MPI_Finalize rather than risk a hang here.
  if (!broken && mpi_usable() && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::split(int color, int key,
                                                        std::string name) const {
  impl_->check_usable("split");
  MPI_Comm sub = MPI_COMM_NULL;
  mpi_check(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &sub),
            this->name() + ": MPI_Comm_split for '" + name + "'");
  if (sub == MPI_COMM_NULL) return nullptr;  // a negative colour: no group for this rank
  return std::make_unique<MpiCommunicator>(sub, std::move(name), options());
}

namespace {

int checked_count(const MpiCommunicator& c, const char* op, int64_t count) {
  XOMNI_CHECK(count >= 0 && count <= INT_MAX, c.name(), " ", op, ": element count ", count,
              " is outside what one MPI call takes (0..", INT_MAX, ")");
  return int(count);
}

void check_reducible(const MpiCommunicator& c, const char* op, DType t) {
  XOMNI_CHECK(t != DType::bf16 && t != DType::f16, c.name(), " ", op, ": the MPI backend cannot ",
              "reduce ", dtype_name(t), " (MPI has no 16-bit float type); reduce in f32 instead");
}

void check_rank(const MpiCommunicator& c, const char* op, const char* what, int r) {
  XOMNI_CHECK(r >= 0 && r < c.size(), c.name(), " ", op, ": ", what, " ", r,
              " is not a rank of this group of ", c.size());
}

}  // namespace

MPI_Request MpiCommunicator::post_all_reduce(void* data, int64_t count, DType dtype, ReduceOp op,
                                             OpDesc& desc) {
  impl_->check_usable("all_reduce");
  check_reducible(*this, "all_reduce", dtype);
  int n = checked_count(*this, "all_reduce", count);
  int64_t seq = begin(CommOp::all_reduce, count * int64_t(dtype_size(dtype)));
  desc = {CommOp::all_reduce, seq, dtype, count, op};
  MPI_Request req = MPI_REQUEST_NULL;
  // get() is reached only for large buffers: MPI_T start-up costs ~0.2 s.
  const bool large = count * int64_t(dtype_size(dtype)) >= IallreduceAlgorithm::kMinBytes &&
                     count >= size() && IallreduceAlgorithm::get().usable();
  if (large) IallreduceAlgorithm::get().set(IallreduceAlgorithm::kRabenseifner);
  int rc = MPI_Iallreduce(MPI_IN_PLACE, data, n, mpi_type(dtype), mpi_op(op), comm_, &req);
  if (large) IallreduceAlgorithm::get().restore();
  mpi_check(rc, name() + " all_reduce: MPI_Iallreduce");
  return req;
}

void MpiCommunicator::all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) {
  OpDesc desc;
  MPI_Request req = post_all_reduce(data, count, dtype, op, desc);
  impl_->start(desc);
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

MPI_Request MpiCommunicator::post_reduce_scatter(const void* in, void* out, int64_t out_count,
                                                 DType dtype, ReduceOp op, OpDesc& desc) {
  impl_->check_usable("reduce_scatter");
  check_reducible(*this, "reduce_scatter", dtype);
  int n = checked_count(*this, "reduce_scatter", out_count * size());
  int64_t seq = begin(CommOp::reduce_scatter, int64_t(n) * int64_t(dtype_size(dtype)));
  desc = {CommOp::reduce_scatter, seq, dtype, out_count, op};
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(
      MPI_Ireduce_scatter_block(in, out, int(out_count), mpi_type(dtype), mpi_op(op), comm_, &req),
      name() + " reduce_scatter: MPI_Ireduce_scatter_block");
  return req;
}

void MpiCommunicator::reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                                         ReduceOp op) {
  OpDesc desc;
  MPI_Request req = post_reduce_scatter(in, out, out_count, dtype, op, desc);
  impl_->start(desc);
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

namespace {

// A posted collective of an MpiCommunicator. Waiting marks it as the communicator's current
// operation, so timeouts and status replies name it as they would the blocking form.
class MpiRequest final : public CommRequest {
 public:
  MpiRequest(CommState& state, const OpDesc& desc, MPI_Request req)
      : state_(state), desc_(desc), req_(req) {}
  bool test() override {
    if (done_) return true;
    int flag = 0;
    mpi_check(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), state_.self->name() + " rank " +
                                                             std::to_string(state_.self->rank()) +
                                                             ": " + state_.describe(desc_));
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    if (done_) return;
    state_.check_usable(comm_op_name(desc_.op));
    state_.start(desc_);
    state_.wait(req_, MPI_STATUS_IGNORE);
    state_.finish();
    done_ = true;
  }

 private:
  CommState& state_;
  OpDesc desc_;
  MPI_Request req_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<CommRequest> MpiCommunicator::all_reduce_async_raw(void* data, int64_t count,
                                                                   DType dtype, ReduceOp op) {
  OpDesc desc;
  MPI_Request req = post_all_reduce(data, count, dtype, op, desc);
  return std::make_unique<MpiRequest>(*impl_, desc, req);
}

std::unique_ptr<CommRequest> MpiCommunicator::reduce_scatter_async_raw(const void* in, void* out,
                                                                       int64_t out_count,
                                                                       DType dtype, ReduceOp op) {
  OpDesc desc;
  MPI_Request req = post_reduce_scatter(in, out, out_count, dtype, op, desc);
  return std::make_unique<MpiRequest>(*impl_, desc, req);
}

std::unique_ptr<CommRequest> MpiCommunicator::all_gather_async_raw(const void* in, void* out,
                                                                   int64_t in_count, DType dtype) {
  OpDesc desc;
  MPI_Request req = post_all_gather(in, out, in_count, dtype, desc);
  return std::make_unique<MpiRequest>(*impl_, desc, req);
}

MPI_Request MpiCommunicator::post_all_gather(const void* in, void* out, int64_t in_count,
                                             DType dtype, OpDesc& desc) {
  impl_->check_usable("all_gather");
  int total = checked_count(*this, "all_gather", in_count * size());
  int64_t seq = begin(CommOp::all_gather, int64_t(total) * int64_t(dtype_size(dtype)));
  desc = {CommOp::all_gather, seq, dtype, in_count};
  MPI_Datatype t = mpi_type(dtype);
  // MPI forbids aliased buffers unless the input is this rank's own chunk (MPI_IN_PLACE).
  const char* own = static_cast<const char*>(out) + rank() * in_count * int64_t(dtype_size(dtype));
  const void* send = in == own ? MPI_IN_PLACE : in;
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(MPI_Iallgather(send, int(in_count), t, out, int(in_count), t, comm_, &req),
            name() + " all_gather: MPI_Iallgather");
  return req;
}

void MpiCommunicator::all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) {
  OpDesc desc;
  MPI_Request req = post_all_gather(in, out, in_count, dtype, desc);
  impl_->start(desc);
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

void MpiCommunicator::broadcast_raw(void* data, int64_t count, DType dtype, int root) {
  impl_->check_usable("broadcast");
  check_rank(*this, "broadcast", "root", root);
  int n = checked_count(*this, "broadcast", count);
  int64_t seq = begin(CommOp::broadcast, count * int64_t(dtype_size(dtype)));
  impl_->start({CommOp::broadcast, seq, dtype, count, ReduceOp::sum, root});
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(MPI_Ibcast(data, n, mpi_type(dtype), root, comm_, &req),
            name() + " broadcast: MPI_Ibcast");
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

void MpiCommunicator::send_raw(const void* data, int64_t count, DType dtype, int peer, int tag) {
  impl_->check_usable("send");
  check_rank(*this, "send", "peer", peer);
  XOMNI_CHECK(tag >= 0, name(), " send: tag must be >= 0, got ", tag);
  int n = checked_count(*this, "send", count);
  int64_t seq = begin(CommOp::send, count * int64_t(dtype_size(dtype)));
  impl_->start({CommOp::send, seq, dtype, count, ReduceOp::sum, peer, tag});
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(MPI_Isend(data, n, mpi_type(dtype), peer, tag, comm_, &req),
            name() + " send: MPI_Isend");
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

void MpiCommunicator::recv_raw(void* data, int64_t count, DType dtype, int peer, int tag) {
  impl_->check_usable("recv");
  check_rank(*this, "recv", "peer", peer);
  XOMNI_CHECK(tag >= 0, name(), " recv: tag must be >= 0, got ", tag);
  int n = checked_count(*this, "recv", count);
  int64_t seq = begin(CommOp::recv, count * int64_t(dtype_size(dtype)));
  OpDesc d{CommOp::recv, seq, dtype, count, ReduceOp::sum, peer, tag};
  impl_->start(d);
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(MPI_Irecv(data, n, mpi_type(dtype), peer, tag, comm_, &req),
            name() + " recv: MPI_Irecv");
  MPI_Status st;
  impl_->wait(req, &st);
  impl_->finish();
  int got = 0;
  mpi_check(MPI_Get_count(&st, mpi_type(dtype), &got), name() + " recv: MPI_Get_count");
  XOMNI_CHECK(got == n, name(), " rank ", rank(), ": ", impl_->describe(d), " got ", got,
              " elements, expected ", n);
}

void MpiCommunicator::send_recv_raw(const void* send_data, int64_t send_count, int send_peer,
                                    int send_tag, void* recv_data, int64_t recv_count,
                                    int recv_peer, int recv_tag, DType dtype) {
  impl_->check_usable("send_recv");
  check_rank(*this, "send_recv", "send peer", send_peer);
  check_rank(*this, "send_recv", "receive peer", recv_peer);
  XOMNI_CHECK(send_tag >= 0 && recv_tag >= 0, name(), " send_recv: tags must be >= 0, got ",
              send_tag, " and ", recv_tag);
  const int ns = checked_count(*this, "send_recv", send_count);
  const int nr = checked_count(*this, "send_recv", recv_count);
  const int64_t bytes = int64_t(dtype_size(dtype));
  const int64_t send_seq = begin(CommOp::send, send_count * bytes);
  const int64_t recv_seq = begin(CommOp::recv, recv_count * bytes);
  const OpDesc sd{CommOp::send, send_seq, dtype, send_count, ReduceOp::sum, send_peer, send_tag};
  const OpDesc rd{CommOp::recv, recv_seq, dtype, recv_count, ReduceOp::sum, recv_peer, recv_tag};
  // Receive first, so that a peer doing the same finds it posted; only then wait.
  MPI_Request rreq = MPI_REQUEST_NULL, sreq = MPI_REQUEST_NULL;
  mpi_check(MPI_Irecv(recv_data, nr, mpi_type(dtype), recv_peer, recv_tag, comm_, &rreq),
            name() + " send_recv: MPI_Irecv");
  mpi_check(MPI_Isend(send_data, ns, mpi_type(dtype), send_peer, send_tag, comm_, &sreq),
            name() + " send_recv: MPI_Isend");
  // Each wait is reported as the half it waits for; MPI progresses both in either.
  impl_->start(sd);
  impl_->wait(sreq, MPI_STATUS_IGNORE);
  impl_->start(rd);
  MPI_Status st;
  impl_->wait(rreq, &st);
  impl_->finish();
  int got = 0;
  mpi_check(MPI_Get_count(&st, mpi_type(dtype), &got), name() + " send_recv: MPI_Get_count");
  XOMNI_CHECK(got == nr, name(), " rank ", rank(), ": ", impl_->describe(rd), " got ", got,
              " elements, expected ", nr);
}

void MpiCommunicator::barrier_raw() {
  impl_->check_usable("barrier");
  int64_t seq = begin(CommOp::barrier, 0);
  impl_->start({CommOp::barrier, seq});
  MPI_Request req = MPI_REQUEST_NULL;
  mpi_check(MPI_Ibarrier(comm_, &req), name() + " barrier: MPI_Ibarrier");
  impl_->wait(req, MPI_STATUS_IGNORE);
  impl_->finish();
}

// ---- descriptions ----

bool is_collective(CommOp op) {
  return op != CommOp::send && op != CommOp::recv;
}

std::string CommState::rank_str(int group_rank) const {
  return "rank " + std::to_string(group_rank) + " (world " +
         std::to_string(self->world_ranks()[size_t(group_rank)]) + ")";
}

std::string CommState::describe(const OpDesc& d) const {
  std::ostringstream os;
  const char* name = comm_op_name(d.op);
  const char* type = dtype_name(d.dtype);
  switch (d.op) {
    case CommOp::all_reduce:
      os << "collective #" << d.seq << " " << name << " (" << type << " x " << d.count << ", "
         << reduce_op_name(d.reduce) << ")";
      break;
    case CommOp::reduce_scatter:
      os << "collective #" << d.seq << " " << name << " (" << type << " x " << d.count
         << " per rank, " << reduce_op_name(d.reduce) << ")";
      break;
    case CommOp::all_gather:
      os << "collective #" << d.seq << " " << name << " (" << type << " x " << d.count
         << " per rank)";
      break;
    case CommOp::broadcast:
      os << "collective #" << d.seq << " " << name << " (" << type << " x " << d.count
         << " from rank " << d.peer << ")";
      break;
    case CommOp::barrier:
      os << "collective #" << d.seq << " " << name;
      break;
    case CommOp::send:
    case CommOp::recv:
      os << name << (d.op == CommOp::send ? " to " : " from ") << rank_str(d.peer) << ", tag "
         << d.tag << " (" << type << " x " << d.count << ")";
      break;
  }
  return os.str();
}

}  // namespace xomni::parallel
