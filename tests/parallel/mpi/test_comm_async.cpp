// Non-blocking all_reduce / reduce_scatter / all_gather: bitwise the blocking result, several in
// flight, counted like the blocking form, the same timeout report, and the base-class fallback.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "check.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

// Rank-dependent values whose f32 sums round (so a different summation order would show).
Tensor noisy(int rank, int64_t n, unsigned salt) {
  std::mt19937 gen(1234u + 77u * unsigned(rank) + salt);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(gen) * 1e3f;
  return Tensor::from_vector(v, {n});
}

}  // namespace

// Sizes on both sides of the large-buffer algorithm switch (64 KiB), two requests in flight at
// once, polled with test() before waiting.
TEST(MpiCommAsync, AllReduceIsBitwiseTheBlockingOne) {
  auto w = mpi_world();
  for (int64_t len : {int64_t(37), int64_t(100003)}) {
    Tensor a = noisy(w->rank(), len, 1), b = noisy(w->rank(), len, 2);
    Tensor a_ref = a.clone(), b_ref = b.clone();
    w->all_reduce(a_ref);
    w->all_reduce(b_ref);
    auto ra = w->all_reduce_async(a);
    auto rb = w->all_reduce_async(b);
    for (int i = 0; i < 100 && !(ra->test() && rb->test()); ++i)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    rb->wait();
    ra->wait();
    ra->wait();  // waiting again is a no-op
    EXPECT_TRUE(ra->test());
    EXPECT_TRUE(test::same_bits(a, a_ref)) << len;
    EXPECT_TRUE(test::same_bits(b, b_ref)) << len;
  }
}

TEST(MpiCommAsync, ReduceScatterIsBitwiseTheBlockingOne) {
  auto w = mpi_world();
  const int64_t k = 30001;
  Tensor in = noisy(w->rank(), k * w->size(), 3);
  Tensor ref = Tensor::zeros({k}), out = Tensor::zeros({k});
  w->reduce_scatter(in, ref);
  auto r = w->reduce_scatter_async(in, out);
  r->wait();
  EXPECT_TRUE(test::same_bits(out, ref));
  EXPECT_THROW(w->reduce_scatter_async(in, Tensor::zeros({k + 1})), Error);
}

// Rank r's chunk lands at r in every rank's output, in place (input = own chunk) or not, and
// two gathers can be in flight at once.
TEST(MpiCommAsync, AllGatherIsTheBlockingOne) {
  auto w = mpi_world();
  const int n = w->size();
  const int64_t k = 20011;
  Tensor in = noisy(w->rank(), k, 4);
  Tensor ref = Tensor::zeros({n * k}), out = Tensor::zeros({n * k});
  Tensor in_place = Tensor::zeros({n * k});
  make_view(in_place, {k}, {1}, w->rank() * k).copy_(in);
  w->all_gather(in, ref);
  auto r1 = w->all_gather_async(in, out);
  auto r2 = w->all_gather_async(make_view(in_place, {k}, {1}, w->rank() * k), in_place);
  r2->wait();
  r1->wait();
  EXPECT_TRUE(test::same_bits(out, ref));
  EXPECT_TRUE(test::same_bits(in_place, ref));
  // Chunk r is rank r's input: check two entries against the generator directly.
  for (int r = 0; r < n; ++r) {
    const std::vector<float> theirs = noisy(r, k, 4).to_vector<float>();
    EXPECT_EQ(out.to_vector<float>()[size_t(r * k)], theirs[0]);
    EXPECT_EQ(out.to_vector<float>()[size_t(r * k + k - 1)], theirs[size_t(k - 1)]);
  }
  EXPECT_THROW(w->all_gather_async(in, Tensor::zeros({n * k + 1})), Error);
}

TEST(MpiCommAsync, CountedAndSequencedWhenPosted) {
  auto w = mpi_world();
  const int n = w->size();
  const int64_t seq0 = w->sequence();
  w->reset_stats();
  auto r1 = w->all_reduce_async(Tensor::zeros({10}, DType::f32));
  auto r2 =
      w->reduce_scatter_async(Tensor::zeros({n * 3}, DType::f64), Tensor::zeros({3}, DType::f64));
  auto r3 = w->all_gather_async(Tensor::zeros({2}, DType::f32), Tensor::zeros({n * 2}));
  EXPECT_EQ(w->sequence(), seq0 + 3);  // before any is waited on
  const CommStats& s = w->stats();
  EXPECT_EQ(s.calls[size_t(CommOp::all_reduce)], 1);
  EXPECT_EQ(s.bytes[size_t(CommOp::all_reduce)], 40);
  EXPECT_EQ(s.calls[size_t(CommOp::reduce_scatter)], 1);
  EXPECT_EQ(s.bytes[size_t(CommOp::reduce_scatter)], n * 3 * 8);  // the input, as blocking
  EXPECT_EQ(s.calls[size_t(CommOp::all_gather)], 1);
  EXPECT_EQ(s.bytes[size_t(CommOp::all_gather)], n * 2 * 4);  // the output, as blocking
  r1->wait();
  r2->wait();
  r3->wait();
  EXPECT_EQ(w->stats().total_bytes(), 40 + n * 24 + n * 8);
}

// A rank that never posts: the waiting ranks time out naming the posted collective, as the
// blocking form does.
TEST(MpiCommAsync, WaitTimesOutNamingTheCollective) {
  auto w = mpi_world();
  const int late = w->size() - 1;
  MPI_Comm dup;
  MPI_Comm_dup(w->handle(), &dup);
  CommOptions o;
  o.timeout_s = 0.5;
  auto sub = std::make_unique<MpiCommunicator>(dup, "async_group", o);
  static Tensor stuck = Tensor::full({4}, 1.0, DType::f32);  // may be written after the timeout
  if (w->rank() != late) {
    auto req = sub->all_reduce_async(stuck);
    const std::string m = test::error_message([&] { req->wait(); });
    EXPECT_NE(m.find("communication timeout in group 'async_group'"), std::string::npos) << m;
    EXPECT_NE(m.find("collective #0 all_reduce (f32 x 4, sum)"), std::string::npos) << m;
    EXPECT_NE(m.find("rank " + std::to_string(late) + " (world " + std::to_string(late) + ")"),
              std::string::npos)
        << m;
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    try {
      sub->all_reduce(stuck);
    } catch (const CommTimeout&) {
    }
  }
  w->barrier();
  sub.reset();
  w->barrier();
}

namespace {
// A one-rank backend without its own non-blocking forms: it inherits the blocking fallback.
class OneRankComm final : public Communicator {
 public:
  OneRankComm() : Communicator("solo", 0, 1, {0}, {}) {}
  void all_reduce_raw(void*, int64_t count, DType dtype, ReduceOp) override {
    begin(CommOp::all_reduce, count * int64_t(dtype_size(dtype)));
    ++blocking_calls;
  }
  void reduce_scatter_raw(const void* in, void* out, int64_t n, DType dtype, ReduceOp) override {
    begin(CommOp::reduce_scatter, n * int64_t(dtype_size(dtype)));
    std::memcpy(out, in, size_t(n) * dtype_size(dtype));
    ++blocking_calls;
  }
  void all_gather_raw(const void* in, void* out, int64_t n, DType dtype) override {
    begin(CommOp::all_gather, n * int64_t(dtype_size(dtype)));
    std::memcpy(out, in, size_t(n) * dtype_size(dtype));
    ++blocking_calls;
  }
  void broadcast_raw(void*, int64_t, DType, int) override {}
  void send_raw(const void*, int64_t, DType, int, int) override {}
  void recv_raw(void*, int64_t, DType, int, int) override {}
  void barrier_raw() override {}
  int blocking_calls = 0;
};
}  // namespace

TEST(MpiCommAsync, BackendsWithoutAsyncFallBackToBlocking) {
  OneRankComm c;
  Tensor in = Tensor::full({3}, 2.5), out = Tensor::zeros({3});
  auto r = c.reduce_scatter_async(in, out);
  EXPECT_EQ(c.blocking_calls, 1);  // ran when posted
  EXPECT_TRUE(r->test());
  r->wait();
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  c.all_reduce_async(in)->wait();
  EXPECT_EQ(c.blocking_calls, 2);
  Tensor gathered = Tensor::zeros({3});
  EXPECT_TRUE(c.all_gather_async(in, gathered)->test());
  EXPECT_EQ(c.blocking_calls, 3);
  EXPECT_EQ(gathered.to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(c.sequence(), 3);
}
