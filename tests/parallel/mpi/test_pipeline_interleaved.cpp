// Interleaved 1F1B over the world as the pp group (p = world size, v chunks per rank): an MLP of
// Linear + tanh layers split over p*v virtual stages (chunk c of rank s is virtual stage c*p + s)
// gives the same per-micro losses on every rank and the same parameter gradients as one process
// running the micro-batches in turn; each rank runs interleaved_order, holding at most its warm-up
// count + 1 micro-batches' chunk activations; a bad micro-batch count fails on every rank with
// the numbers.
#include <gtest/gtest.h>

#include <algorithm>

#include "check.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

// A deadlock in the schedule fails the test with the comm timeout's report instead of hanging.
std::unique_ptr<MpiCommunicator> world() {
  CommOptions o;
  o.timeout_s = 30;
  return mpi_world(o);
}

constexpr int64_t kWidth = 16, kRows = 1024;  // 64 KiB of f32: above what MPI sends eagerly

struct Mlp {
  std::vector<std::unique_ptr<nn::Linear>> layers;
  explicit Mlp(int64_t n) {
    Generator gen(4321);
    for (int64_t i = 0; i < n; ++i)
      layers.push_back(std::make_unique<nn::Linear>(kWidth, kWidth, true, gen, 0.3));
  }
  Tensor run(Tensor h, int64_t begin, int64_t end) const {
    for (int64_t i = begin; i < end; ++i) h = tanh((*layers[size_t(i)])(h));
    return h;
  }
};

Tensor micro_input(int64_t m) {
  return test::uniform({kRows, kWidth}, 200 + uint64_t(m), DType::f32);
}
Tensor micro_target(int64_t m) {
  return test::uniform({kRows, kWidth}, 700 + uint64_t(m), DType::f32);
}
Tensor loss_of(const Tensor& h, int64_t m) {
  const Tensor d = h - micro_target(m);
  return mean(d * d);
}

void check_interleaved(MpiCommunicator& pp, int v, int64_t n_layers,
                       const std::vector<int64_t>& sizes, int64_t m) {
  const int p = pp.size(), s = pp.rank();
  const auto ranges = split_layers(n_layers, p * v, sizes, "test");
  Mlp model(n_layers);
  std::vector<StageFunctions> chunks(static_cast<size_t>(v));
  for (int c = 0; c < v; ++c) {
    const int k = c * p + s;  // the virtual stage
    const auto [begin, end] = ranges[size_t(k)];
    chunks[size_t(c)].activation_shape = {kRows, kWidth};
    chunks[size_t(c)].forward = [&, k, begin, end](int64_t micro, const Tensor& input) {
      EXPECT_EQ(input.defined(), k > 0) << "virtual stage " << k;
      const Tensor h = model.run(k == 0 ? micro_input(micro) : input, begin, end);
      return k == p * v - 1 ? loss_of(h, micro) : h;
    };
  }
  std::vector<TimelineEvent> events;
  const std::vector<double> losses = run_interleaved_1f1b(pp, chunks, m, &events);

  Mlp ref(n_layers);
  ASSERT_EQ(losses.size(), size_t(m));
  for (int64_t i = 0; i < m; ++i) {
    const Tensor l = loss_of(ref.run(micro_input(i), 0, n_layers), i);
    EXPECT_NEAR(losses[size_t(i)], l.item(), 1e-6 * std::abs(l.item()))
        << "rank " << s << " micro " << i;
    l.backward();
  }
  // This rank's layers (those of its v virtual stages): every gradient as in the one-process run.
  for (int64_t l = 0; l < n_layers; ++l) {
    bool mine = false;
    for (int c = 0; c < v; ++c)
      mine |= l >= ranges[size_t(c * p + s)].first && l < ranges[size_t(c * p + s)].second;
    const auto got = model.layers[size_t(l)]->named_parameters();
    const auto want = ref.layers[size_t(l)]->named_parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      const std::string what =
          "rank " + std::to_string(s) + " layer " + std::to_string(l) + " " + got[i].first;
      ASSERT_EQ(got[i].second.grad().defined(), mine) << what;
      if (mine) test::expect_close(got[i].second.grad(), want[i].second.grad(), 1e-5, what);
    }
  }
  // The events are this rank's interleaved order, one after another; at most the warm-up
  // forwards + 1 are in flight (their activations held) at once.
  const std::vector<PipelineOp> order = interleaved_order(s, p, v, m);
  ASSERT_EQ(events.size(), order.size());
  const int64_t warmup = std::min<int64_t>(2 * (p - s - 1) + (v - 1) * p, m * v);
  int64_t in_flight = 0, peak = 0;
  for (const TimelineEvent& e : events) {
    in_flight += e.phase == 'F' ? 1 : -1;
    peak = std::max(peak, in_flight);
  }
  EXPECT_EQ(peak, std::min<int64_t>(warmup + 1, m * v)) << "rank " << s;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].phase, order[i].phase) << "event " << i;
    EXPECT_EQ(events[i].micro, order[i].micro) << "event " << i;
    EXPECT_EQ(events[i].chunk, order[i].chunk) << "event " << i;
    EXPECT_EQ(events[i].stage, s);
    if (i > 0) {
      EXPECT_GE(events[i].start, events[i - 1].end);
    }
  }
}

}  // namespace

TEST(PipelineInterleaved, TwoChunksEvenSplit) {
  auto pp = world();
  check_interleaved(*pp, 2, 2 * pp->size(), {}, pp->size());
  check_interleaved(*pp, 2, 2 * pp->size() + 3, {}, 2 * pp->size());
}

TEST(PipelineInterleaved, ThreeChunksUnevenSplit) {
  auto pp = world();
  std::vector<int64_t> sizes;
  for (int k = 0; k < 3 * pp->size(); ++k) sizes.push_back(1 + k % 2);
  int64_t n = 0;
  for (int64_t k : sizes) n += k;
  check_interleaved(*pp, 3, n, sizes, 2 * pp->size());
}

TEST(PipelineInterleaved, MicroBatchesNotAMultipleOfPFailEverywhere) {
  auto pp = world();
  Mlp model(2 * pp->size());
  std::vector<StageFunctions> chunks(2);
  for (StageFunctions& c : chunks) {
    c.activation_shape = {kRows, kWidth};
    c.forward = [](int64_t, const Tensor& input) { return input; };
  }
  const int64_t m = pp->size() + 1;
  const std::string e = test::error_message([&] { run_interleaved_1f1b(*pp, chunks, m); });
  EXPECT_TRUE(test::contains(
      e, "m = " + std::to_string(m) + ", p = " + std::to_string(pp->size()) + ", v = 2"))
      << e;
  pp->barrier();  // nothing was left in flight
}
