// The NCCL communicator on cudaMalloc'ed buffers against closed forms, at whatever world size the
// executable runs with (one process, one GPU, under ctest). Skips with a message where no GPU is
// visible; built only where the NCCL backend is (XOMNI_HAVE_NCCL).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

#include "xomni/parallel/nccl_comm.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

// Skips the test unless a CUDA device is visible.
#define REQUIRE_GPU()                                                              \
  do {                                                                             \
    int n_ = 0;                                                                    \
    cudaError_t rc_ = cudaGetDeviceCount(&n_);                                     \
    if (rc_ != cudaSuccess || n_ == 0) {                                           \
      cudaGetLastError();                                                          \
      GTEST_SKIP() << "no CUDA device visible ("                                   \
                   << (rc_ == cudaSuccess ? "0 devices" : cudaGetErrorString(rc_)) \
                   << "): the NCCL communicator tests need a GPU";                 \
    }                                                                              \
  } while (0)

// A device buffer of floats, copied to and from host vectors.
class DeviceFloats {
 public:
  explicit DeviceFloats(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(float)), cudaSuccess);
  }
  ~DeviceFloats() { cudaFree(p_); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* get() const { return p_; }
  void set(const std::vector<float>& v) {
    ASSERT_EQ(v.size(), n_);
    ASSERT_EQ(cudaMemcpy(p_, v.data(), n_ * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<float> get_host() const {
    std::vector<float> v(n_);
    EXPECT_EQ(cudaMemcpy(v.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }

 private:
  size_t n_;
  float* p_ = nullptr;
};

class NcclComm : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_GPU();
    world_ = mpi_world(CommOptions{60.0});
    nccl_ = std::make_unique<NcclCommunicator>(*world_, "world-nccl", CommOptions{60.0});
  }
  std::unique_ptr<MpiCommunicator> world_;
  std::unique_ptr<NcclCommunicator> nccl_;
};

}  // namespace

TEST_F(NcclComm, AllReduceSumsAndTakesMax) {
  const int P = nccl_->size(), r = nccl_->rank();
  const size_t n = 1000;
  DeviceFloats buf(n);
  std::vector<float> mine(n);
  for (size_t i = 0; i < n; ++i) mine[i] = float(r + int(i));
  buf.set(mine);
  nccl_->all_reduce_raw(buf.get(), int64_t(n), DType::f32, ReduceOp::sum);
  std::vector<float> got = buf.get_host();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float(P * int(i) + P * (P - 1) / 2)) << i;
  buf.set(mine);
  nccl_->all_reduce_raw(buf.get(), int64_t(n), DType::f32, ReduceOp::max);
  got = buf.get_host();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float(P - 1 + int(i))) << i;
  EXPECT_EQ(nccl_->sequence(), 2);
  EXPECT_EQ(nccl_->stats().calls[int(CommOp::all_reduce)], 2);
  EXPECT_EQ(nccl_->stats().bytes[int(CommOp::all_reduce)], int64_t(2 * n * sizeof(float)));
}

TEST_F(NcclComm, AllGatherConcatenatesRankChunks) {
  const int P = nccl_->size(), r = nccl_->rank();
  const size_t n = 37;
  DeviceFloats in(n), out(n * size_t(P));
  std::vector<float> mine(n);
  for (size_t i = 0; i < n; ++i) mine[i] = float(100 * r + int(i));
  in.set(mine);
  nccl_->all_gather_raw(in.get(), out.get(), int64_t(n), DType::f32);
  const std::vector<float> got = out.get_host();
  for (int q = 0; q < P; ++q)
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[size_t(q) * n + i], float(100 * q + int(i)));
}

// A ring exchange: every rank sends to the next and receives from the previous in one grouped
// call (at one rank, to itself), and the counters see one send and one receive.
TEST_F(NcclComm, SendRecvRingPassesEachRanksBufferOn) {
  const int P = nccl_->size(), r = nccl_->rank();
  const size_t n = 1000;
  DeviceFloats out(n), in(n);
  std::vector<float> mine(n);
  for (size_t i = 0; i < n; ++i) mine[i] = float(1000 * r) + float(i) * 0.5f;
  out.set(mine);
  nccl_->reset_stats();
  const int next = (r + 1) % P, prev = (r + P - 1) % P;
  nccl_->send_recv_raw(out.get(), int64_t(n), next, 0, in.get(), int64_t(n), prev, 0, DType::f32);
  const std::vector<float> got = in.get_host();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float(1000 * prev) + float(i) * 0.5f);
  EXPECT_EQ(nccl_->stats().calls[size_t(CommOp::send)], 1);
  EXPECT_EQ(nccl_->stats().calls[size_t(CommOp::recv)], 1);
  EXPECT_EQ(nccl_->stats().bytes[size_t(CommOp::recv)], int64_t(n * sizeof(float)));
}

TEST_F(NcclComm, ReduceScatterGivesEachRankItsReducedChunk) {
  const int P = nccl_->size(), r = nccl_->rank();
  const size_t n = 53;  // per rank
  DeviceFloats in(n * size_t(P)), out(n);
  std::vector<float> mine(n * size_t(P));
  for (size_t k = 0; k < mine.size(); ++k) mine[k] = float(r + int(k));
  in.set(mine);
  nccl_->reduce_scatter_raw(in.get(), out.get(), int64_t(n), DType::f32, ReduceOp::sum);
  const std::vector<float> got = out.get_host();
  for (size_t i = 0; i < n; ++i)
    ASSERT_EQ(got[i], float(P * (r * int(n) + int(i)) + P * (P - 1) / 2)) << i;
}

TEST_F(NcclComm, BroadcastCopiesTheRootsBuffer) {
  const int r = nccl_->rank();
  const size_t n = 300;
  DeviceFloats buf(n);
  std::vector<float> mine(n, -1.0f);
  if (r == 0)
    for (size_t i = 0; i < n; ++i) mine[i] = 7.0f + float(i);
  buf.set(mine);
  nccl_->broadcast_raw(buf.get(), int64_t(n), DType::f32, 0);
  const std::vector<float> got = buf.get_host();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 7.0f + float(i)) << i;
  nccl_->barrier_raw();
  EXPECT_EQ(nccl_->sequence(), 2);
}

TEST_F(NcclComm, HostMemoryIsRefusedWithAClearError) {
  std::vector<float> host(8, 1.0f);
  try {
    nccl_->all_reduce_raw(host.data(), 8, DType::f32, ReduceOp::sum);
    FAIL() << "a host buffer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not GPU memory"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(nccl_->aborted());
  EXPECT_EQ(nccl_->sequence(), 0);  // refused before it was counted
}
