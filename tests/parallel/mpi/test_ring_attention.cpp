// Ring attention over cp = world size against one process: every rank builds the same full q, k,
// v, pads the sequence to a multiple of 2*cp, takes its zigzag tokens and runs ring_attention and
// its backward; the gathered output and dQ/dK/dV at the real positions must match
// scaled_dot_product_attention and autograd on the unpadded sequence (computed in f64). Also the
// zigzag layout helpers, the number of ring messages, and cp = 1.
#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>

#include "check.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/context_parallel.h"
#include "xomni/parallel/mpi_comm.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

constexpr int64_t kB = 2, kHq = 4, kHkv = 2, kD = 8;
constexpr int64_t kPadSegment = -1;  // pad tokens form their own document

int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

TEST(Zigzag, LayoutHelpers) {
  EXPECT_EQ(zigzag_padded_length(13, 2), 16);
  EXPECT_EQ(zigzag_padded_length(16, 2), 16);
  EXPECT_EQ(zigzag_padded_length(21, 4), 24);
  EXPECT_EQ(zigzag_padded_length(0, 3), 0);
  EXPECT_EQ(zigzag_indices(16, 2, 0), (std::vector<int64_t>{0, 1, 2, 3, 12, 13, 14, 15}));
  EXPECT_EQ(zigzag_indices(16, 2, 1), (std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(zigzag_indices(12, 3, 2), (std::vector<int64_t>{4, 5, 6, 7}));
  for (int cp : {1, 2, 3, 4, 8}) {
    const int64_t Tp = zigzag_padded_length(21, cp);
    // x[b, t] = 100 b + t, so every taken value names its position.
    std::vector<int64_t> vals;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < Tp; ++t) vals.push_back(100 * b + t);
    const Tensor x = Tensor::from_vector(vals, {2, Tp});
    std::vector<Tensor> parts;
    std::vector<int64_t> seen;
    for (int r = 0; r < cp; ++r) {
      const std::vector<int64_t> idx = zigzag_indices(Tp, cp, r);
      EXPECT_EQ(zigzag_positions(Tp, cp, r).to_vector<int64_t>(), idx);
      parts.push_back(zigzag_take(x, 1, cp, r));
      const std::vector<int64_t> got = parts.back().to_vector<int64_t>();
      ASSERT_EQ(got.size(), 2 * idx.size());
      for (size_t i = 0; i < idx.size(); ++i) {
        EXPECT_EQ(got[i], idx[i]);
        EXPECT_EQ(got[idx.size() + i], 100 + idx[i]);
      }
      seen.insert(seen.end(), idx.begin(), idx.end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(static_cast<size_t>(Tp));
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all) << "cp=" << cp;
    EXPECT_EQ(zigzag_restore(parts, 1).to_vector<int64_t>(), vals) << "cp=" << cp;
  }
  EXPECT_NE(test::error_message([] { zigzag_indices(13, 2, 0); }).find("multiple of 2*cp"),
            std::string::npos);
}

// Packed documents [B, T]: batch 0 has lengths 5, 4, 3, ...; batch 1 has 2, 9, 1, ... so that
// documents cross the chunk boundaries at every cp tested.
Tensor packed_segments(int64_t T) {
  const std::vector<std::vector<int64_t>> lengths = {{5, 4, 3}, {2, 9, 1}};
  std::vector<int64_t> ids;
  for (const auto& lens : lengths) {
    int64_t doc = 0, left = lens[0];
    for (int64_t t = 0; t < T; ++t) {
      if (left == 0) {
        ++doc;
        left = doc < int64_t(lens.size()) ? lens[size_t(doc)] : 3;
      }
      ids.push_back(doc);
      --left;
    }
  }
  return Tensor::from_vector(ids, {kB, T});
}

// x [B, H, T, ...] padded along dim to Tp with `fill` (its own values).
Tensor pad_to(const Tensor& x, int64_t dim, const Tensor& fill) {
  const int64_t T = x.size(dim), Tp = fill.size(dim);
  if (T == Tp) return x;
  return cat({x, slice(fill, dim, T, Tp)}, dim);
}

struct Case {
  DType dtype;
  int64_t T;
  bool causal, segments;
};

std::string name(const Case& c) {
  return std::string(dtype_name(c.dtype)) + " T=" + std::to_string(c.T) +
         (c.causal ? " causal" : " full") + (c.segments ? " segments" : "");
}

void run_case(const Case& c, MpiCommunicator& world) {
  SCOPED_TRACE(name(c));
  const int cp = world.size(), rank = world.rank();
  const ContextParallel ctx{&world};
  const int64_t T = c.T, Tp = zigzag_padded_length(T, cp), L = Tp / cp;
  const DType dt = c.dtype;
  // The same values on every rank (fixed seeds); the pads get values of their own.
  const Tensor q = test::uniform({kB, kHq, T, kD}, 11, dt),
               k = test::uniform({kB, kHkv, T, kD}, 12, dt),
               v = test::uniform({kB, kHkv, T, kD}, 13, dt),
               gout = test::uniform({kB, kHq, T, kD}, 14, dt);
  const Tensor seg = c.segments ? packed_segments(T) : Tensor();

  // One process, in f64 from the same values.
  Tensor rq = q.to(DType::f64).clone().set_requires_grad(),
         rk = k.to(DType::f64).clone().set_requires_grad(),
         rv = v.to(DType::f64).clone().set_requires_grad();
  AttentionOptions ro;
  ro.causal = c.causal;
  ro.q_segment_ids = seg;
  ro.k_segment_ids = seg;
  const Tensor ref = scaled_dot_product_attention(rq, rk, rv, ro);
  ref.backward(gout.to(DType::f64));

  // Padded sequence. With segment ids the pads are their own document, so even a nonzero
  // upstream gradient at a pad cannot reach a real token; without them (causal only) the pads'
  // loss is ignored, i.e. their upstream gradient is zero.
  const Tensor pq = pad_to(q, 2, test::uniform({kB, kHq, Tp, kD}, 21, dt));
  const Tensor pk = pad_to(k, 2, test::uniform({kB, kHkv, Tp, kD}, 22, dt));
  const Tensor pv = pad_to(v, 2, test::uniform({kB, kHkv, Tp, kD}, 23, dt));
  const Tensor pg = pad_to(
      gout, 2,
      c.segments ? test::uniform({kB, kHq, Tp, kD}, 24, dt) : Tensor::zeros({kB, kHq, Tp, kD}, dt));
  RingAttentionOptions opt;
  opt.causal = c.causal;
  if (c.segments)
    opt.segment_ids = zigzag_take(
        pad_to(seg, 1, Tensor::full({kB, Tp}, double(kPadSegment), DType::i64)), 1, cp, rank);

  Tensor lq = zigzag_take(pq, 2, cp, rank).set_requires_grad();
  Tensor lk = zigzag_take(pk, 2, cp, rank).set_requires_grad();
  Tensor lv = zigzag_take(pv, 2, cp, rank).set_requires_grad();
  ASSERT_EQ(lq.size(2), L);
  world.reset_stats();
  const int64_t seq0 = world.sequence();
  const Tensor out = ring_attention(lq, lk, lv, opt, ctx);
  // Forward: cp-1 ring steps, each one K/V message (and one segment-id message).
  const int64_t per_step = c.segments ? 2 : 1;
  const CommStats fwd = world.stats();
  EXPECT_EQ(fwd.calls[int(CommOp::send)], (cp - 1) * per_step);
  EXPECT_EQ(fwd.calls[int(CommOp::recv)], (cp - 1) * per_step);
  const int64_t kv_bytes = 2 * kB * kHkv * L * kD * int64_t(dtype_size(dt));
  const int64_t seg_bytes = c.segments ? kB * L * 8 : 0;
  EXPECT_EQ(fwd.bytes[int(CommOp::send)], (cp - 1) * (kv_bytes + seg_bytes));
  EXPECT_EQ(world.sequence(), seq0);  // point-to-point only
  out.backward(zigzag_take(pg, 2, cp, rank));
  // Backward: cp-1 steps of [K, V, dK, dV] and one last step of [dK, dV].
  const CommStats all = world.stats();
  // (None with one rank: that is scaled_dot_product_attention.)
  EXPECT_EQ(all.calls[int(CommOp::send)] - fwd.calls[int(CommOp::send)], cp > 1 ? cp : 0);
  EXPECT_EQ(all.bytes[int(CommOp::send)] - fwd.bytes[int(CommOp::send)],
            cp > 1 ? (cp - 1) * 2 * kv_bytes + kv_bytes : 0);
  EXPECT_EQ(all.calls[int(CommOp::recv)], all.calls[int(CommOp::send)]);

  auto real = [&](const Tensor& local) {
    return slice(zigzag_gather(local, 2, ctx), 2, 0, T).contiguous();
  };
  const double tol = dt == DType::f64 ? 1e-10 : 1e-5;
  test::expect_close(real(out.detach()), ref.detach(), tol, name(c) + " out");
  test::expect_close(real(lq.grad()), rq.grad(), tol, name(c) + " dq");
  test::expect_close(real(lk.grad()), rk.grad(), tol, name(c) + " dk");
  test::expect_close(real(lv.grad()), rv.grad(), tol, name(c) + " dv");
}

TEST(RingAttention, MatchesSingleProcess) {
  CommOptions copt;
  copt.timeout_s = 60;
  auto world = mpi_world(copt);
  for (DType dt : {DType::f64, DType::f32})
    for (int64_t T : {13, 21, 16})
      for (bool segments : {false, true}) run_case({dt, T, true, segments}, *world);
  // Without the causal mask the pads must be hidden by their segment id.
  for (DType dt : {DType::f64, DType::f32}) run_case({dt, 13, false, true}, *world);
}

TEST(RingAttention, OneRankIsScaledDotProductAttention) {
  const Tensor q = test::uniform({kB, kHq, 10, kD}, 1), k = test::uniform({kB, kHkv, 10, kD}, 2),
               v = test::uniform({kB, kHkv, 10, kD}, 3);
  RingAttentionOptions opt;
  opt.segment_ids = packed_segments(10);
  AttentionOptions ao;
  ao.causal = true;
  ao.q_segment_ids = opt.segment_ids;
  ao.k_segment_ids = opt.segment_ids;
  EXPECT_EQ(ring_attention(q, k, v, opt, ContextParallel{}).to_vector<double>(),
            scaled_dot_product_attention(q, k, v, ao).to_vector<double>());
}

TEST(RingAttention, RejectsAnOddLocalLength) {
  if (world_size() < 2) GTEST_SKIP() << "needs a cp group of 2 or more";
  auto world = mpi_world();
  const Tensor q = test::uniform({1, 2, 5, 4}, 1), k = test::uniform({1, 2, 5, 4}, 2);
  const std::string msg = test::error_message(
      [&] { ring_attention(q, k, k, RingAttentionOptions{}, ContextParallel{world.get()}); });
  EXPECT_NE(msg.find("zigzag_padded_length"), std::string::npos) << msg;
}

}  // namespace
