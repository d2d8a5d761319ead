// MpiCommunicator at 2-8 ranks: every operation against closed-form values from rank-dependent
// inputs, statistics and sequence numbers, argument checks, split, and the timeout report.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "check.h"
#include "xomni/parallel/comm_checkpoint_group.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;
using xomni::test::error_message;

namespace {

CommOptions with_timeout(double s) {
  CommOptions o;
  o.timeout_s = s;
  return o;
}

// Rank r's all_reduce input for element i: (r + 1) * (i + 1), exact in every dtype used.
template <typename T>
Tensor ramp(int r, int64_t n) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = T((r + 1) * (i + 1));
  return Tensor::from_vector(v, {n});
}

template <typename T>
void check_all_reduce(MpiCommunicator& c) {
  const int n = c.size();
  const int64_t len = 7;
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
    Tensor t = ramp<T>(c.rank(), len);
    c.all_reduce(t, op);
    auto got = t.to_vector<T>();
    for (int64_t i = 0; i < len; ++i) {
      double base = double(i + 1);
      double want = op == ReduceOp::sum   ? base * n * (n + 1) / 2
                    : op == ReduceOp::max ? base * n
                                          : base;
      EXPECT_EQ(double(got[size_t(i)]), want)
          << dtype_name(dtype_of<T>()) << " " << reduce_op_name(op) << " element " << i;
    }
  }
}

}  // namespace

TEST(MpiComm, WorldMatchesMpi) {
  auto w = mpi_world();
  EXPECT_EQ(w->rank(), world_rank());
  EXPECT_EQ(w->size(), world_size());
  EXPECT_EQ(w->name(), "world");
  ASSERT_EQ(int(w->world_ranks().size()), w->size());
  for (int r = 0; r < w->size(); ++r) EXPECT_EQ(w->world_ranks()[size_t(r)], r);
  EXPECT_NE(w->handle(), MPI_COMM_WORLD);  // a duplicate
  EXPECT_EQ(CommCheckpointGroup(*w).mpi_comm(), w->handle());
  ensure_mpi_initialized();  // already initialised: a no-op
}

TEST(MpiComm, AllReduceEveryDtypeAndOp) {
  auto w = mpi_world();
  check_all_reduce<float>(*w);
  check_all_reduce<double>(*w);
  check_all_reduce<int64_t>(*w);
  check_all_reduce<int32_t>(*w);
  check_all_reduce<uint8_t>(*w);
}

// Above 64 KiB the all_reduce runs another MPI algorithm (see mpi_communicator.cpp).
TEST(MpiComm, LargeAllReduce) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  const int64_t len = 40000 + 3;  // 160 KiB of f32, not a multiple of the rank count
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
    std::vector<float> v(static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) v[size_t(i)] = float((r + 1) * (i % 1000));
    Tensor t = Tensor::from_vector(v, {len});
    w->all_reduce(t, op);
    const float* p = t.data<float>();
    int64_t wrong = 0;
    for (int64_t i = 0; i < len; ++i) {
      float base = float(i % 1000);
      float want = op == ReduceOp::sum   ? base * float(n * (n + 1) / 2)
                   : op == ReduceOp::max ? base * float(n)
                                         : base;
      wrong += p[i] != want;
    }
    EXPECT_EQ(wrong, 0) << reduce_op_name(op);
  }
  Tensor d = Tensor::full({20000}, double(r), DType::f64);
  w->all_reduce(d);
  for (double x : d.to_vector<double>()) ASSERT_EQ(x, double(n * (n - 1) / 2));
}

TEST(MpiComm, ReduceScatter) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  const int64_t k = 3;
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
    // Rank q's input element j = 100 q + j; rank r's output i reduces element r k + i.
    std::vector<double> in(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n * k; ++j) in[size_t(j)] = 100.0 * r + double(j);
    Tensor out = Tensor::zeros({k}, DType::f64);
    w->reduce_scatter(Tensor::from_vector(in, {n * k}), out, op);
    auto got = out.to_vector<double>();
    for (int64_t i = 0; i < k; ++i) {
      double j = double(r * k + i);
      double want = op == ReduceOp::sum   ? 100.0 * n * (n - 1) / 2 + n * j
                    : op == ReduceOp::max ? 100.0 * (n - 1) + j
                                          : j;
      EXPECT_EQ(got[size_t(i)], want) << reduce_op_name(op) << " element " << i;
    }
  }
  // f32 sum as well.
  Tensor in32 = Tensor::full({n * k}, double(r + 1), DType::f32);
  Tensor out32 = Tensor::zeros({k}, DType::f32);
  w->reduce_scatter(in32, out32);
  for (float v : out32.to_vector<float>()) EXPECT_EQ(v, float(n * (n + 1) / 2));
}

TEST(MpiComm, AllGather) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  const int64_t k = 4;
  std::vector<int64_t> in(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) in[size_t(i)] = 10 * r + i;
  Tensor out = Tensor::zeros({n * k}, DType::i64);
  w->all_gather(Tensor::from_vector(in, {k}), out);
  auto got = out.to_vector<int64_t>();
  for (int q = 0; q < n; ++q)
    for (int64_t i = 0; i < k; ++i) EXPECT_EQ(got[size_t(q * k + i)], 10 * q + i);

  // In place: the input is this rank's own chunk of the output.
  Tensor buf = Tensor::zeros({n, k}, DType::f32);
  float* p = buf.data<float>();
  for (int64_t i = 0; i < k; ++i) p[r * k + i] = float(r + 0.5 * double(i));
  w->all_gather_raw(p + r * k, p, k, DType::f32);
  for (int q = 0; q < n; ++q)
    for (int64_t i = 0; i < k; ++i) EXPECT_EQ(p[q * k + i], float(q + 0.5 * double(i)));
}

TEST(MpiComm, BroadcastFromNonZeroRoot) {
  auto w = mpi_world();
  const int root = w->size() - 1;
  for (DType dt : {DType::f32, DType::f64, DType::i64}) {
    Tensor t = Tensor::full({5}, -1.0, dt);
    if (w->rank() == root) t.copy_(Tensor::arange(5, DType::i64).to(dt));
    w->broadcast(t, root);
    EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{0, 1, 2, 3, 4})) << dtype_name(dt);
  }
}

TEST(MpiComm, SixteenBitTypesMoveButDoNotReduce) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  // bf16 bits survive broadcast and all_gather unchanged.
  Tensor b = Tensor::full({3}, r == 0 ? 1.5 : 0.0, DType::bf16);
  w->broadcast(b, 0);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1.5f, 1.5f, 1.5f}));
  Tensor mine = Tensor::full({2}, double(r) + 0.25, DType::bf16);
  Tensor all = Tensor::zeros({2 * n}, DType::bf16);
  w->all_gather(mine, all);
  auto got = all.to_vector<float>();
  for (int q = 0; q < n; ++q) EXPECT_EQ(got[size_t(2 * q + 1)], float(q) + 0.25f);
  // Reductions on 16-bit floats say what to do instead (every rank throws before communicating).
  std::string m = error_message([&] { w->all_reduce(b); });
  EXPECT_NE(m.find("cannot reduce bf16"), std::string::npos) << m;
  m = error_message([&] { w->all_reduce(Tensor::zeros({2}, DType::f16)); });
  EXPECT_NE(m.find("cannot reduce f16"), std::string::npos) << m;
  EXPECT_EQ(w->sequence(), 2);  // the rejected calls issued nothing
}

TEST(MpiComm, SendRecvRing) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  for (DType dt : {DType::f32, DType::f64, DType::i64}) {
    std::vector<double> v(6);
    for (int i = 0; i < 6; ++i) v[size_t(i)] = 1000.0 * r + i;
    Tensor send = Tensor::from_vector(v, {6}).to(dt);
    Tensor recv = Tensor::zeros({6}, dt);
    // A chain: rank 0 sends first, everyone else receives first, so it works for any size.
    if (r == 0) {
      w->send(send, next, 7);
      w->recv(recv, prev, 7);
    } else {
      w->recv(recv, prev, 7);
      w->send(send, next, 7);
    }
    auto got = recv.to_vector<double>();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(got[size_t(i)], 1000.0 * prev + i) << dtype_name(dt);
  }
  EXPECT_EQ(w->sequence(), 0);  // point-to-point does not advance the sequence
}

TEST(MpiComm, RecvOfShorterMessageFails) {
  auto w = mpi_world();
  if (w->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  if (w->rank() == 0) w->send(Tensor::zeros({3}, DType::f32), 1, 2);
  if (w->rank() == 1) {
    std::string m = error_message([&] { w->recv(Tensor::zeros({5}, DType::f32), 0, 2); });
    EXPECT_NE(m.find("got 3 elements, expected 5"), std::string::npos) << m;
    EXPECT_NE(m.find("recv from rank 0 (world 0), tag 2"), std::string::npos) << m;
  }
}

TEST(MpiComm, BarrierWaitsForTheSlowestRank) {
  auto w = mpi_world();
  const int n = w->size();
  // steady_clock is CLOCK_MONOTONIC, one clock for every process of this host: no rank may
  // leave the barrier before the last one (rank 0, after a nap) entered it.
  auto now_ns = [] {
    return int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count());
  };
  w->barrier();
  if (w->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int64_t entered = now_ns();
  w->barrier();
  const int64_t left = now_ns();
  Tensor all = Tensor::zeros({n}, DType::i64);
  w->all_gather(Tensor::from_vector(std::vector<int64_t>{entered}, {1}), all);
  const auto enters = all.to_vector<int64_t>();
  EXPECT_EQ(enters[size_t(w->rank())], entered);
  for (int q = 0; q < n; ++q) EXPECT_GE(left, enters[size_t(q)]) << "rank " << q;
}

TEST(MpiComm, StatsAndSequence) {
  auto w = mpi_world();
  const int n = w->size();
  w->all_reduce(Tensor::zeros({10}, DType::f32));  // #0: 40 B
  w->reduce_scatter(Tensor::zeros({n * 3}, DType::f64), Tensor::zeros({3}, DType::f64));  // #1
  w->all_gather(Tensor::zeros({2}, DType::i64), Tensor::zeros({2 * n}, DType::i64));      // #2
  w->broadcast(Tensor::zeros({5}, DType::f32), 0);  // #3: 20 B
  w->barrier();                                     // #4
  if (w->rank() == 0) w->send(Tensor::zeros({4}, DType::i32), 1, 0);
  if (w->rank() == 1) w->recv(Tensor::zeros({4}, DType::i32), 0, 0);
  const CommStats& s = w->stats();
  auto idx = [](CommOp op) { return size_t(op); };
  EXPECT_EQ(w->sequence(), 5);
  EXPECT_EQ(s.calls[idx(CommOp::all_reduce)], 1);
  EXPECT_EQ(s.bytes[idx(CommOp::all_reduce)], 40);
  EXPECT_EQ(s.calls[idx(CommOp::reduce_scatter)], 1);
  EXPECT_EQ(s.bytes[idx(CommOp::reduce_scatter)], n * 3 * 8);  // the input
  EXPECT_EQ(s.calls[idx(CommOp::all_gather)], 1);
  EXPECT_EQ(s.bytes[idx(CommOp::all_gather)], 2 * n * 8);  // the output
  EXPECT_EQ(s.bytes[idx(CommOp::broadcast)], 20);
  EXPECT_EQ(s.calls[idx(CommOp::barrier)], 1);
  EXPECT_EQ(s.bytes[idx(CommOp::barrier)], 0);
  const bool sender = w->rank() == 0, receiver = w->rank() == 1;
  EXPECT_EQ(s.calls[idx(CommOp::send)], sender ? 1 : 0);
  EXPECT_EQ(s.bytes[idx(CommOp::send)], sender ? 16 : 0);
  EXPECT_EQ(s.calls[idx(CommOp::recv)], receiver ? 1 : 0);
  EXPECT_EQ(s.bytes[idx(CommOp::recv)], receiver ? 16 : 0);
  EXPECT_EQ(s.total_bytes(), 40 + n * 24 + n * 16 + 20 + ((sender || receiver) ? 16 : 0));
  w->reset_stats();
  EXPECT_EQ(w->stats().total_bytes(), 0);
  EXPECT_EQ(w->sequence(), 5);  // statistics reset, the sequence does not
}

TEST(MpiComm, TensorWrappersRejectBadArguments) {
  auto w = mpi_world();
  const int n = w->size();
  Tensor strided = xomni::test::swap_last2(Tensor::zeros({2, 3}, DType::f32));
  ASSERT_FALSE(strided.is_contiguous());
  std::string m = error_message([&] { w->all_reduce(strided); });
  EXPECT_NE(m.find("contiguous"), std::string::npos) << m;
  m = error_message([&] { w->broadcast(strided, 0); });
  EXPECT_NE(m.find("contiguous"), std::string::npos) << m;
  m = error_message([&] { w->send(strided, 0); });
  EXPECT_NE(m.find("contiguous"), std::string::npos) << m;
  m = error_message([&] { w->reduce_scatter(Tensor::zeros({n * 3 + 1}), Tensor::zeros({3})); });
  EXPECT_NE(m.find("reduce_scatter: input has"), std::string::npos) << m;
  m = error_message([&] { w->all_gather(Tensor::zeros({2}), Tensor::zeros({2 * n + 1})); });
  EXPECT_NE(m.find("all_gather: output has"), std::string::npos) << m;
  m = error_message(
      [&] { w->all_gather(Tensor::zeros({2}, DType::f32), Tensor::zeros({2 * n}, DType::f64)); });
  EXPECT_NE(m.find("all_gather"), std::string::npos) << m;
  m = error_message([&] { w->broadcast(Tensor::zeros({2}), n); });
  EXPECT_NE(m.find("root " + std::to_string(n) + " is not a rank"), std::string::npos) << m;
  m = error_message([&] { w->send(Tensor::zeros({2}), -1); });
  EXPECT_NE(m.find("peer -1 is not a rank"), std::string::npos) << m;
  EXPECT_EQ(w->sequence(), 0);
  EXPECT_EQ(w->stats().total_bytes(), 0);
}

TEST(MpiComm, SplitGroupsAndWorldRanks) {
  auto w = mpi_world();
  const int n = w->size(), r = w->rank();
  // Colour by parity, key reversing the order: group rank 0 is the highest world rank.
  auto half = w->split(r % 2, -r, "parity");
  ASSERT_NE(half, nullptr);
  std::vector<int> members;
  for (int q = n - 1; q >= 0; --q)
    if (q % 2 == r % 2) members.push_back(q);
  EXPECT_EQ(half->name(), "parity");
  EXPECT_EQ(half->size(), int(members.size()));
  EXPECT_EQ(half->world_ranks(), members);
  EXPECT_EQ(half->world_ranks()[size_t(half->rank())], r);
  EXPECT_EQ(half->options().timeout_s, w->options().timeout_s);
  Tensor t = Tensor::full({1}, double(r), DType::i64);
  half->all_reduce(t);
  int64_t want = 0;
  for (int q : members) want += q;
  EXPECT_EQ(t.to_vector<int64_t>()[0], want);
  // A negative colour leaves this rank out.
  auto some = w->split(r == 0 ? -1 : 0, r, "not0");
  EXPECT_EQ(some == nullptr, r == 0);
  if (some) {
    EXPECT_EQ(some->size(), n - 1);
  }
}

// One rank joins a collective late (after three times the timeout) while it computes: the others
// time out naming the collective, its sequence number and the silent rank.
TEST(MpiComm, TimeoutNamesTheSilentRank) {
  auto w = mpi_world();
  if (w->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int late = w->size() - 1;
  MPI_Comm dup;
  MPI_Comm_dup(w->handle(), &dup);
  auto sub = std::make_unique<MpiCommunicator>(dup, "late_group", with_timeout(0.5));
  Tensor one = Tensor::full({1}, 1.0, DType::f32);
  sub->all_reduce(one);  // collective #0 completes
  // The timed-out ranks' buffer may still be written when the late rank joins: keep it alive.
  static Tensor stuck = Tensor::full({4}, 1.0, DType::f32);
  if (w->rank() != late) {
    auto t0 = std::chrono::steady_clock::now();
    std::string m;
    try {
      sub->all_reduce(stuck);
      ADD_FAILURE() << "no timeout";
    } catch (const CommTimeout& e) {
      m = e.what();
    }
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(took, 0.5);
    EXPECT_LT(took, 3.0);  // 0.5 s timeout + at most 0.5 s waiting for answers (+ load)
    EXPECT_NE(m.find("group 'late_group'"), std::string::npos) << m;
    EXPECT_NE(
        m.find("rank " + std::to_string(w->rank()) + " (world " + std::to_string(w->rank()) + ")"),
        std::string::npos)
        << m;
    EXPECT_NE(m.find("collective #1 all_reduce (f32 x 4, sum)"), std::string::npos) << m;
    const std::string silent =
        "rank " + std::to_string(late) + " (world " + std::to_string(late) + ") did not answer";
    EXPECT_NE(m.find("Waiting on: " + silent), std::string::npos) << m;
    // The other punctual ranks are in the same collective: listed apart, not as culprits.
    const size_t also = m.find("Also waiting in it:");
    if (w->size() > 2) {
      ASSERT_NE(also, std::string::npos) << m;
      for (int q = 0; q < late; ++q) {
        if (q != w->rank()) {
          EXPECT_NE(m.find("rank " + std::to_string(q) + " (world", also), std::string::npos) << m;
        }
      }
    } else {
      EXPECT_EQ(also, std::string::npos) << m;
    }
    m = error_message([&] { sub->barrier(); });
    EXPECT_NE(m.find("'late_group' cannot be used for barrier any more"), std::string::npos) << m;
    EXPECT_EQ(sub->sequence(), 2);
  } else {
    // Past the others' timeout (0.5 s) and their wait for answers (0.5 s), with a margin: an
    // answer from this rank inside that window would make it "also waiting".
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    // The others have given up but their requests still progress, so this normally completes;
    // if it times out instead, the others are answering from their next operation.
    try {
      sub->all_reduce(stuck);
      EXPECT_EQ(stuck.to_vector<float>()[0], float(w->size()));
    } catch (const CommTimeout& e) {
      EXPECT_NE(std::string(e.what()).find("collective #1 all_reduce"), std::string::npos);
    }
  }
  w->barrier();
  sub.reset();  // a broken communicator is released without waiting for its stuck request
  w->barrier();
}

// The late rank is waiting in another group's collective: it answers the query from there.
TEST(MpiComm, TimeoutSaysWhatThePeerIsDoing) {
  auto w = mpi_world();
  if (w->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int late = 0;
  MPI_Comm dup;
  MPI_Comm_dup(w->handle(), &dup);
  auto sub = std::make_unique<MpiCommunicator>(dup, "tp", with_timeout(0.5));
  auto other = w->split(0, w->rank(), "dp");
  static Tensor stuck = Tensor::full({2}, 1.0, DType::i64);
  if (w->rank() != late) {
    std::string m;
    try {
      sub->all_reduce(stuck, ReduceOp::max);
      ADD_FAILURE() << "no timeout";
    } catch (const CommTimeout& e) {
      m = e.what();
    }
    EXPECT_NE(m.find("collective #0 all_reduce (i64 x 2, max)"), std::string::npos) << m;
    EXPECT_NE(m.find("Waiting on: rank 0 (world 0) is in no operation of 'tp' (it has issued 0 "
                     "collectives there); it is waiting in 'dp' collective #0 barrier"),
              std::string::npos)
        << m;
    other->barrier();
  } else {
    other->barrier();  // waits here until the others have timed out
    sub->all_reduce(stuck, ReduceOp::max);
    EXPECT_EQ(stuck.to_vector<int64_t>()[0], 1);
  }
  w->barrier();
}
