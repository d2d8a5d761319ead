// The 1F1B pipeline over the world as the pp group (p = world size): an MLP of Linear + tanh
// layers split over the stages (even and uneven splits, m >= p and m < p) gives the same
// per-micro losses on every rank and the same parameter gradients as one process running the
// micro-batches in turn; each stage runs the 1F1B order and holds at most p - s micro-batches;
// the timeline survives JSONL; send_recv exchanges large messages without deadlock.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "check.h"
#include "pipeline_toy.h"
#include "xomni/core/nn/nn.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

using test::kRows;
using test::kWidth;
using test::loss_of;
using test::micro_input;
using test::micro_target;
using test::Mlp;

std::unique_ptr<MpiCommunicator> world() {
  return test::pipeline_world();
}

// Runs the pipeline and checks it against the one-process computation; returns the events.
std::vector<TimelineEvent> check_pipeline(MpiCommunicator& pp, int64_t n_layers,
                                          const std::vector<int64_t>& sizes, int64_t m) {
  const int p = pp.size(), s = pp.rank();
  const auto ranges = split_layers(n_layers, p, sizes, "test");
  const auto [begin, end] = ranges[size_t(s)];

  Mlp model(n_layers);
  StageFunctions fns;
  fns.activation_shape = {kRows, kWidth};
  fns.forward = [&](int64_t micro, const Tensor& input) {
    EXPECT_EQ(input.defined(), s > 0);
    if (input.defined()) {
      EXPECT_TRUE(input.requires_grad() && input.is_leaf());
    }
    const Tensor h = model.run(s == 0 ? micro_input(micro) : input, begin, end);
    return s == p - 1 ? loss_of(h, micro) : h;
  };
  std::vector<TimelineEvent> events;
  const std::vector<double> losses = run_1f1b(pp, fns, m, &events);

  // The same micro-batches one after another through the whole model, on every rank.
  Mlp ref(n_layers);
  std::vector<double> ref_losses;
  for (int64_t i = 0; i < m; ++i) {
    const Tensor l = loss_of(ref.run(micro_input(i), 0, n_layers), i);
    ref_losses.push_back(l.item());
    l.backward();
  }
  EXPECT_EQ(losses.size(), size_t(m));
  for (int64_t i = 0; i < m && size_t(i) < losses.size(); ++i)
    EXPECT_NEAR(losses[size_t(i)], ref_losses[size_t(i)], 1e-6 * std::abs(ref_losses[size_t(i)]))
        << "rank " << s << " micro " << i;
  // This stage's parameters: every gradient as in the one-process run; the others untouched.
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto got = model.layers[size_t(l)]->named_parameters();
    const auto want = ref.layers[size_t(l)]->named_parameters();
    for (size_t k = 0; k < got.size(); ++k) {
      if (l >= begin && l < end) {
        EXPECT_TRUE(got[k].second.grad().defined()) << "layer " << l << " " << got[k].first;
        if (got[k].second.grad().defined())
          test::expect_close(got[k].second.grad(), want[k].second.grad(), 1e-5,
                             "layer " + std::to_string(l) + " " + got[k].first);
      } else {
        EXPECT_FALSE(got[k].second.grad().defined()) << "layer " << l << " on stage " << s;
      }
    }
  }

  // The 1F1B order: min(p-s, m) forwards first, then B and F alternate while forwards remain,
  // then backwards; micro-batches in order within each phase; at most p - s in flight.
  EXPECT_EQ(events.size(), size_t(2 * m));
  int64_t nf = 0, nb = 0, peak = 0, leading = 0;
  bool seen_b = false;
  for (size_t k = 0; k < events.size(); ++k) {
    const TimelineEvent& e = events[k];
    EXPECT_EQ(e.rank, s);
    EXPECT_LE(e.start, e.end);
    if (k > 0) {
      EXPECT_GE(e.start, events[k - 1].end);
    }
    if (e.phase == 'F') {
      EXPECT_EQ(e.micro, nf++);
      if (!seen_b) ++leading;
      // After the first backward, a forward always follows a backward.
      if (seen_b) {
        EXPECT_EQ(events[k - 1].phase, 'B') << "stage " << s << " event " << k;
      }
    } else {
      EXPECT_EQ(e.micro, nb++);
      seen_b = true;
      // While forwards remain, a backward follows a forward.
      if (nf < m) {
        EXPECT_EQ(events[k - 1].phase, 'F') << "stage " << s << " event " << k;
      }
    }
    peak = std::max(peak, nf - nb);
  }
  EXPECT_EQ(leading, std::min<int64_t>(p - s, m)) << "stage " << s;
  EXPECT_LE(peak, p - s) << "stage " << s;
  EXPECT_EQ(peak, std::min<int64_t>(p - s, m)) << "stage " << s;
  return events;
}

}  // namespace

TEST(Pipeline, EvenSplitEightMicroBatches) {
  auto pp = world();
  check_pipeline(*pp, 2 * pp->size(), {}, 8);
}

TEST(Pipeline, UnevenSplit) {
  auto pp = world();
  const std::vector<int64_t> sizes =
      pp->size() == 2 ? std::vector<int64_t>{1, 3} : std::vector<int64_t>{1, 2, 1, 2};
  if (int(sizes.size()) != pp->size()) GTEST_SKIP() << "for 2 or 4 ranks";
  int64_t n = 0;
  for (int64_t k : sizes) n += k;
  check_pipeline(*pp, n, sizes, 8);
}

TEST(Pipeline, FewerMicroBatchesThanStages) {
  auto pp = world();
  check_pipeline(*pp, pp->size() + 1, {}, pp->size() - 1);
  check_pipeline(*pp, pp->size(), {}, 1);
}

TEST(Pipeline, TimelineJsonlRoundTripAndBubble) {
  auto pp = world();
  std::vector<TimelineEvent> events = check_pipeline(*pp, pp->size(), {}, 4);
  for (TimelineEvent& e : events) e.step = 7;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("xomni_pp_timeline_" + std::to_string(::getpid()) + ".jsonl"))
                               .string();
  std::filesystem::remove(path);
  append_timeline_jsonl(path, events);
  append_timeline_jsonl(path, events);  // appends
  const std::vector<TimelineEvent> back = read_timeline_jsonl(path);
  std::filesystem::remove(path);
  ASSERT_EQ(back.size(), 2 * events.size());
  for (size_t k = 0; k < back.size(); ++k) {
    const TimelineEvent &a = back[k], &b = events[k % events.size()];
    EXPECT_EQ(a.rank, b.rank);
    EXPECT_EQ(a.stage, b.stage);
    EXPECT_EQ(a.micro, b.micro);
    EXPECT_EQ(a.phase, b.phase);
    EXPECT_EQ(a.step, 7);
    EXPECT_NEAR(a.start, b.start, 1e-9);
    EXPECT_NEAR(a.end, b.end, 1e-9);
  }
  // One stage's own bubble: its idle share of its span.
  double busy = 0;
  for (const TimelineEvent& e : events) busy += e.end - e.start;
  const double span = events.back().end - events.front().start;
  EXPECT_NEAR(bubble_fraction(events, 1), 1.0 - busy / span, 1e-12);
}

TEST(Pipeline, SendRecvExchangesLargeMessages) {
  auto w = world();
  const int r = w->rank(), peer = r ^ 1;
  if (peer >= w->size()) GTEST_SKIP() << "needs an even world";
  const int64_t n = 1 << 18;  // 1 MiB of f32 each way, far above the eager limit
  std::vector<float> mine(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mine[size_t(i)] = float(r * 1000 + i % 997);
  const Tensor out = Tensor::from_vector(mine, {n});
  const Tensor in = Tensor::empty({n});
  w->reset_stats();
  w->send_recv(out, peer, 3, in, peer, 3);
  const std::vector<float> got = in.to_vector<float>();
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(got[size_t(i)], float(peer * 1000 + i % 997));
  EXPECT_EQ(w->stats().calls[int(CommOp::send)], 1);
  EXPECT_EQ(w->stats().calls[int(CommOp::recv)], 1);
  EXPECT_EQ(w->stats().bytes[int(CommOp::send)], 4 * n);
  EXPECT_EQ(w->stats().bytes[int(CommOp::recv)], 4 * n);
  EXPECT_EQ(w->sequence(), 0);  // point-to-point: no collective sequence number
}
