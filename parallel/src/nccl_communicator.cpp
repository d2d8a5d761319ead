// NcclCommunicator: GPU selection, NCCL id exchange over MPI, and operations enqueued on the
// communicator's stream and polled against the timeout (abort + CommTimeout when it passes).
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "xomni/parallel/nccl_comm.h"

namespace xomni::parallel {

namespace {

void cuda_check(cudaError_t rc, const std::string& where) {
  XOMNI_CHECK(rc == cudaSuccess, where, ": ", cudaGetErrorName(rc), " (", cudaGetErrorString(rc),
              ")");
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32:
      return ncclFloat32;
    case DType::f64:
      return ncclFloat64;
    case DType::bf16:
      return ncclBfloat16;
    case DType::f16:
      return ncclFloat16;
    case DType::i32:
      return ncclInt32;
    case DType::i64:
      return ncclInt64;
    case DType::u8:
      return ncclUint8;
  }
  throw Error("NcclCommunicator: unknown dtype");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return ncclSum;
    case ReduceOp::max:
      return ncclMax;
    case ReduceOp::min:
      return ncclMin;
  }
  throw Error("NcclCommunicator: unknown reduce op");
}

// The first of OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID that is set, or -1.
int local_rank_from_env() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      char* end = nullptr;
      long r = std::strtol(v, &end, 10);
      XOMNI_CHECK(*end == '\0' && r >= 0, "NcclCommunicator: ", var, "='", v,
                  "' is not a local rank");
      return int(r);
    }
  }
  return -1;
}

// This process's rank among the processes on its node, decided once: the environment, or the
// ranks of the first `over` that share this node (MPI_Comm_split_type, collective over it).
int local_rank(MPI_Comm over) {
  static int cached = -1;
  if (cached >= 0) return cached;
  int r = local_rank_from_env();
  if (r < 0) {
    MPI_Comm node = MPI_COMM_NULL;
    XOMNI_CHECK(
        MPI_Comm_split_type(over, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS,
        "NcclCommunicator: MPI_Comm_split_type failed");
    MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
  }
  cached = r;
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct NcclCommunicator::Impl {
  NcclCommunicator* self = nullptr;
  int device = -1;
  cudaStream_t stream = nullptr;
  ncclComm_t comm = nullptr;
  int* scratch = nullptr;  // one device int for barrier_raw
  bool aborted = false;
  std::string abort_reason;

  // "collective #7 all_reduce (f32 x 1024)" or "send to rank 1 (f32 x 8)".
  std::string describe(CommOp op, int64_t seq, int64_t count, DType dtype, int peer) const {
    std::ostringstream os;
    if (op == CommOp::send || op == CommOp::recv)
      os << comm_op_name(op) << (op == CommOp::send ? " to" : " from") << " rank " << peer;
    else
      os << "collective #" << seq << " " << comm_op_name(op);
    os << " (" << dtype_name(dtype) << " x " << count << ")";
    return os.str();
  }
  std::string where(const std::string& what) const {
    return "NcclCommunicator '" + self->name() + "' rank " + std::to_string(self->rank()) + ": " +
           what;
  }

  void check_usable(CommOp op) const {
    XOMNI_CHECK(!aborted, where(comm_op_name(op)), ": the NCCL communicator was aborted after ",
                abort_reason, "; create a new communicator");
  }

  // Throws unless `p` is device (or managed) memory on this communicator's device.
  void check_device_ptr(const void* p, CommOp op, const char* what) const {
    cudaPointerAttributes a{};
    cudaError_t rc = cudaPointerGetAttributes(&a, p);
    if (rc != cudaSuccess) cudaGetLastError();  // not sticky: clear it for the next CUDA call
    const bool device_mem =
        rc == cudaSuccess && (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged);
    XOMNI_CHECK(device_mem, where(comm_op_name(op)), ": the ", what,
                " is not GPU memory (host or unknown pointer); the NCCL backend needs device "
                "buffers (cudaMalloc) — use the MPI backend for CPU tensors");
    XOMNI_CHECK(a.type == cudaMemoryTypeManaged || a.device == device, where(comm_op_name(op)),
                ": the ", what, " is on cuda:", a.device,
                " but this communicator uses cuda:", device);
  }

  void nccl_check(ncclResult_t rc, const std::string& what) {
    if (rc == ncclSuccess) return;
    std::string last = comm ? ncclGetLastError(comm) : "";
    throw Error(where(what) + ": " + ncclGetErrorString(rc) +
                (last.empty() ? "" : " (" + last + ")"));
  }

  void abort(const std::string& reason) {
    if (!aborted && comm) ncclCommAbort(comm);
    comm = nullptr;
    aborted = true;
    abort_reason = reason;
  }

  // Polls the stream until the enqueued operation completed, NCCL reported an error, or the
  // timeout passed; the last two abort the communicator and throw.
  void wait(const std::string& desc) {
    const auto t0 = std::chrono::steady_clock::now();
    const double timeout = self->options().timeout_s;
    auto sleep = std::chrono::microseconds(20);
    for (;;) {
      cudaError_t q = cudaStreamQuery(stream);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) {
        const std::string text =
            std::string(cudaGetErrorName(q)) + " (" + cudaGetErrorString(q) + ")";
        abort("a CUDA error in " + desc);
        throw Error(where(desc) + ": CUDA error while waiting: " + text +
                    "; the NCCL communicator was aborted");
      }
      ncclResult_t async = ncclSuccess;
      ncclResult_t rc = ncclCommGetAsyncError(comm, &async);
      if (rc != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
        const std::string text = ncclGetErrorString(rc != ncclSuccess ? rc : async) +
                                 std::string(" (") + ncclGetLastError(comm) + ")";
        abort("an NCCL error in " + desc);
        throw Error(where(desc) + ": NCCL error: " + text + "; the NCCL communicator was aborted");
      }
      const double waited = seconds_since(t0);
      if (timeout > 0 && waited >= timeout) {
        std::ostringstream os;
        os << "communication timeout in group '" << self->name() << "': rank " << self->rank()
           << " (world " << self->world_ranks()[size_t(self->rank())] << ", cuda:" << device
           << ") waited " << waited << " s (timeout " << timeout << " s) in " << desc << " of "
           << self->size()
           << " ranks; NCCL cannot say which peers are missing. The NCCL communicator was aborted.";
        abort("a timeout in " + desc);
        throw CommTimeout(os.str());
      }
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(1000));
    }
  }

  // Checks, counts (begin), enqueues `enqueue` and waits for it.
  template <typename Enqueue>
  void run(CommOp op, int64_t bytes, int64_t count, DType dtype, int peer, Enqueue&& enqueue) {
    check_usable(op);
    XOMNI_CHECK(count >= 0, where(comm_op_name(op)), ": negative element count ", count);
    const int64_t seq = self->begin(op, bytes);
    // Every rank passes the same count, so all skip together (send/recv: both sides).
    if (count == 0) return;
    const std::string desc = describe(op, seq, count, dtype, peer);
    cuda_check(cudaSetDevice(device), where(desc) + ": cudaSetDevice");
    nccl_check(enqueue(), desc);
    wait(desc);
  }

  void check_peer(CommOp op, int peer) const {
    XOMNI_CHECK(peer >= 0 && peer < self->size(), where(comm_op_name(op)), ": rank ", peer,
                " is outside the group of ", self->size());
  }
};

NcclCommunicator::NcclCommunicator(const MpiCommunicator& over, std::string name,
                                   CommOptions options)
    : Communicator(std::move(name), over.rank(), over.size(), over.world_ranks(), options),
      impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.self = this;
  const MPI_Comm oc = over.handle();
  // Pick the GPU; every rank learns whether all could, so that none waits on a failed one.
  std::string err;
  try {
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) cudaGetLastError();
    XOMNI_CHECK(rc == cudaSuccess && count > 0, m.where("no CUDA device"), " (",
                rc == cudaSuccess ? "0 devices" : cudaGetErrorString(rc),
                "); the NCCL backend needs one GPU per rank");
    m.device = local_rank(oc) % count;
    cuda_check(cudaSetDevice(m.device), m.where("cudaSetDevice(" + std::to_string(m.device) + ")"));
    cuda_check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking),
               m.where("cudaStreamCreate"));
    cuda_check(cudaMalloc(reinterpret_cast<void**>(&m.scratch), sizeof(int)),
               m.where("cudaMalloc"));
  } catch (const std::exception& e) {
    err = e.what();
  }
  int failed = err.empty() ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, oc);
  if (failed) {
    if (m.scratch) cudaFree(m.scratch);
    if (m.stream) cudaStreamDestroy(m.stream);
    throw Error(err.empty() ? m.where("another rank of the group has no usable GPU") : err);
  }
  // Rank 0 makes the id; a flag travels with it so that a failure there reaches every rank.
  struct {
    int ok;
    ncclUniqueId id;
  } msg{};
  if (rank() == 0) msg.ok = ncclGetUniqueId(&msg.id) == ncclSuccess ? 1 : 0;
  MPI_Bcast(&msg, int(sizeof msg), MPI_BYTE, 0, oc);
  if (!msg.ok) {
    cudaFree(m.scratch);
    cudaStreamDestroy(m.stream);
    throw Error(m.where("rank 0 could not create an NCCL unique id (ncclGetUniqueId)"));
  }
  ncclResult_t rc = ncclCommInitRank(&m.comm, size(), msg.id, rank());
  if (rc != ncclSuccess) {
    m.comm = nullptr;
    cudaFree(m.scratch);
    cudaStreamDestroy(m.stream);
    throw Error(m.where("ncclCommInitRank failed: ") + ncclGetErrorString(rc));
  }
}

NcclCommunicator::~NcclCommunicator() {
  Impl& m = *impl_;
  cudaSetDevice(m.device);
  if (m.comm) ncclCommDestroy(m.comm);
  if (m.scratch) cudaFree(m.scratch);
  if (m.stream) cudaStreamDestroy(m.stream);
}

int NcclCommunicator::device() const {
  return impl_->device;
}
CUstream_st* NcclCommunicator::stream() const {
  return impl_->stream;
}
bool NcclCommunicator::aborted() const {
  return impl_->aborted;
}

void NcclCommunicator::all_reduce_raw(void* data, int64_t count, DType dtype, ReduceOp op) {
  Impl& m = *impl_;
  const int64_t bytes = count * int64_t(dtype_size(dtype));
  if (count > 0) m.check_device_ptr(data, CommOp::all_reduce, "buffer");
  m.run(CommOp::all_reduce, bytes, count, dtype, -1, [&] {
    return ncclAllReduce(data, data, size_t(count), nccl_type(dtype), nccl_op(op), m.comm,
                         m.stream);
  });
}

void NcclCommunicator::reduce_scatter_raw(const void* in, void* out, int64_t out_count, DType dtype,
                                          ReduceOp op) {
  Impl& m = *impl_;
  const int64_t bytes = out_count * size() * int64_t(dtype_size(dtype));
  if (out_count > 0) {
    m.check_device_ptr(in, CommOp::reduce_scatter, "input");
    m.check_device_ptr(out, CommOp::reduce_scatter, "output");
  }
  m.run(CommOp::reduce_scatter, bytes, out_count, dtype, -1, [&] {
    return ncclReduceScatter(in, out, size_t(out_count), nccl_type(dtype), nccl_op(op), m.comm,
                             m.stream);
  });
}

void NcclCommunicator::all_gather_raw(const void* in, void* out, int64_t in_count, DType dtype) {
  Impl& m = *impl_;
  const int64_t bytes = in_count * size() * int64_t(dtype_size(dtype));
  if (in_count > 0) {
    m.check_device_ptr(in, CommOp::all_gather, "input");
    m.check_device_ptr(out, CommOp::all_gather, "output");
  }
  m.run(CommOp::all_gather, bytes, in_count, dtype, -1, [&] {
    return ncclAllGather(in, out, size_t(in_count), nccl_type(dtype), m.comm, m.stream);
  });
}

void NcclCommunicator::broadcast_raw(void* data, int64_t count, DType dtype, int root) {
  Impl& m = *impl_;
  m.check_peer(CommOp::broadcast, root);
  const int64_t bytes = count * int64_t(dtype_size(dtype));
  if (count > 0) m.check_device_ptr(data, CommOp::broadcast, "buffer");
  m.run(CommOp::broadcast, bytes, count, dtype, root, [&] {
    return ncclBroadcast(data, data, size_t(count), nccl_type(dtype), root, m.comm, m.stream);
  });
}

void NcclCommunicator::send_raw(const void* data, int64_t count, DType dtype, int peer,
                                int /*tag*/) {
  Impl& m = *impl_;
  m.check_peer(CommOp::send, peer);
  if (count > 0) m.check_device_ptr(data, CommOp::send, "message");
  m.run(CommOp::send, count * int64_t(dtype_size(dtype)), count, dtype, peer,
        [&] { return ncclSend(data, size_t(count), nccl_type(dtype), peer, m.comm, m.stream); });
}

void NcclCommunicator::recv_raw(void* data, int64_t count, DType dtype, int peer, int /*tag*/) {
  Impl& m = *impl_;
  m.check_peer(CommOp::recv, peer);
  if (count > 0) m.check_device_ptr(data, CommOp::recv, "message");
  m.run(CommOp::recv, count * int64_t(dtype_size(dtype)), count, dtype, peer,
        [&] { return ncclRecv(data, size_t(count), nccl_type(dtype), peer, m.comm, m.stream); });
}

void NcclCommunicator::send_recv_raw(const void* send_data, int64_t send_count, int send_peer,
                                     int /*send_tag*/, void* recv_data, int64_t recv_count,
                                     int recv_peer, int /*recv_tag*/, DType dtype) {
  Impl& m = *impl_;
  m.check_peer(CommOp::send, send_peer);
  m.check_peer(CommOp::recv, recv_peer);
  if (send_count > 0) m.check_device_ptr(send_data, CommOp::send, "message");
  if (recv_count > 0) m.check_device_ptr(recv_data, CommOp::recv, "message");
  const int64_t elem = int64_t(dtype_size(dtype));
  begin(CommOp::recv, recv_count * elem);  // run() counts the send
  m.run(CommOp::send, send_count * elem, std::max(send_count, recv_count), dtype, send_peer, [&] {
    ncclResult_t rc = ncclGroupStart();
    if (rc != ncclSuccess) return rc;
    if (send_count > 0)
      rc = ncclSend(send_data, size_t(send_count), nccl_type(dtype), send_peer, m.comm, m.stream);
    if (rc == ncclSuccess && recv_count > 0)
      rc = ncclRecv(recv_data, size_t(recv_count), nccl_type(dtype), recv_peer, m.comm, m.stream);
    const ncclResult_t end = ncclGroupEnd();  // always closes the group it opened
    return rc != ncclSuccess ? rc : end;
  });
}

void NcclCommunicator::barrier_raw() {
  Impl& m = *impl_;
  m.run(CommOp::barrier, 0, 1, DType::i32, -1, [&] {
    return ncclAllReduce(m.scratch, m.scratch, 1, ncclInt32, ncclSum, m.comm, m.stream);
  });
}

}  // namespace xomni::parallel
