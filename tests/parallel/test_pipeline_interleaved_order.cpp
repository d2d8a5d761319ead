// Interleaved 1F1B without MPI: the compute order against the closed-form order, and every rank's
// plan (computes and messages) run together through a rendezvous simulator that checks that no
// rank waits for a message never sent, that each input arrives before its compute and that each
// (micro, chunk) runs forward then backward exactly once; then the bubble of the ideal timeline
// against (p-1)/(v*m+p-1).
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "check.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::parallel;
using xomni::test::contains;
using xomni::test::error_message;

namespace {

// The k-th forward of every rank, from the closed form (chunk (k/p)%v, micro (k/(pv))p + k%p).
std::pair<int64_t, int> nth(int64_t k, int p, int v) {
  return {(k / (int64_t(p) * v)) * p + k % p, int((k / p) % v)};
}

// One posted half of an exchange: a send carries its micro-batch, a receive names what it takes.
struct Half {
  bool send;
  char kind;  // 'a' activation, 'g' gradient
  int peer, chunk;
  int64_t micro;
  bool done = false;
};

class RendezvousSimulator {
 public:
  // gradient_first: post each step's gradient exchange before its activation exchange (the
  // order the runner must not use; the simulator finds its deadlock).
  RendezvousSimulator(int p, int v, int64_t m, bool gradient_first = false)
      : p_(p), v_(v), m_(m), gradient_first_(gradient_first) {
    for (int s = 0; s < p; ++s) plans_.push_back(interleaved_plan(s, p, v, m));
    ranks_.resize(size_t(p));
  }

  // Runs until nothing moves; true when every rank got through its plan.
  bool run() {
    for (bool progress = true; progress;) {
      progress = false;
      for (int s = 0; s < p_; ++s) progress |= advance(s);
      progress |= match();
      for (int s = 0; s < p_; ++s) progress |= finish_exchange(s);
    }
    for (int s = 0; s < p_; ++s)
      if (ranks_[size_t(s)].step != plans_[size_t(s)].size()) return false;
    return true;
  }

  // After a run: each rank ran every (micro, chunk) forward and backward once.
  void expect_complete() const {
    for (int s = 0; s < p_; ++s) {
      const Rank& r = ranks_[size_t(s)];
      for (int c = 0; c < v_; ++c)
        for (int64_t i = 0; i < m_; ++i) {
          EXPECT_EQ(r.ran.count({'F', i, c}), 1u) << "rank " << s << " F " << i << "," << c;
          EXPECT_EQ(r.ran.count({'B', i, c}), 1u) << "rank " << s << " B " << i << "," << c;
        }
      EXPECT_EQ(r.ran.size(), size_t(2 * m_ * v_));
    }
  }

 private:
  struct Rank {
    size_t step = 0;
    int phase = 0;  // 0: computes next; 1: activation exchange; 2: gradient exchange
    std::vector<Half> posted;
    bool posting = false;
    std::map<std::pair<char, int>, std::deque<int64_t>> queue;  // (kind, chunk) -> micros
    std::set<std::tuple<char, int64_t, int>> ran;
    int64_t forward_micro = -1, backward_micro = -1;
    int forward_chunk = -1, backward_chunk = -1;
  };

  bool first_virtual(int s, int c) const { return s == 0 && c == 0; }
  bool last_virtual(int s, int c) const { return s == p_ - 1 && c == v_ - 1; }

  void compute(int s, const PipelineOp& op) {
    Rank& r = ranks_[size_t(s)];
    const std::string what = "p=" + std::to_string(p_) + " v=" + std::to_string(v_) +
                             " m=" + std::to_string(m_) + " rank " + std::to_string(s) + " " +
                             op.phase + " micro " + std::to_string(op.micro) + " chunk " +
                             std::to_string(op.chunk);
    const bool needs_input =
        op.phase == 'F' ? !first_virtual(s, op.chunk) : !last_virtual(s, op.chunk);
    if (op.phase == 'B') {
      ASSERT_TRUE(r.ran.count({'F', op.micro, op.chunk})) << what << ": backward before forward";
    }
    if (needs_input) {
      auto& q = r.queue[{op.phase == 'F' ? 'a' : 'g', op.chunk}];
      ASSERT_FALSE(q.empty()) << what << ": its input was never received";
      ASSERT_EQ(q.front(), op.micro) << what << ": received another micro-batch's input";
      q.pop_front();
    }
    ASSERT_TRUE(r.ran.insert({op.phase, op.micro, op.chunk}).second) << what << " ran twice";
    if (op.phase == 'F') {
      r.forward_micro = op.micro;
      r.forward_chunk = op.chunk;
    } else {
      r.backward_micro = op.micro;
      r.backward_chunk = op.chunk;
    }
  }

  // Runs the computes of the rank's current step and posts its next exchange.
  bool advance(int s) {
    Rank& r = ranks_[size_t(s)];
    if (r.posting || r.step >= plans_[size_t(s)].size()) return false;
    const PipelineStep& step = plans_[size_t(s)][r.step];
    if (r.phase == 0) {
      for (const PipelineOp& op : step.compute) compute(s, op);
      r.phase = 1;
    }
    r.posted.clear();
    if (r.phase == (gradient_first_ ? 2 : 1)) {
      // The activation goes to rank s+1, to the same chunk there or, from rank p-1, the next.
      if (step.send_activation)
        r.posted.push_back(
            {true, 'a', (s + 1) % p_, r.forward_chunk + (s == p_ - 1 ? 1 : 0), r.forward_micro});
      if (step.recv_activation_chunk >= 0)
        r.posted.push_back({false, 'a', (s + p_ - 1) % p_, step.recv_activation_chunk, -1});
    } else {
      if (step.send_gradient)
        r.posted.push_back(
            {true, 'g', (s + p_ - 1) % p_, r.backward_chunk - (s == 0 ? 1 : 0), r.backward_micro});
      if (step.recv_gradient_chunk >= 0)
        r.posted.push_back({false, 'g', (s + 1) % p_, step.recv_gradient_chunk, -1});
    }
    r.posting = true;
    return true;
  }

  // Matches a posted send with the posted receive it meets (a blocking send completes only then).
  bool match() {
    bool any = false;
    for (int s = 0; s < p_; ++s)
      for (Half& h : ranks_[size_t(s)].posted) {
        if (!h.send || h.done) continue;
        Rank& peer = ranks_[size_t(h.peer)];
        for (Half& g : peer.posted)
          if (!g.send && !g.done && g.kind == h.kind && g.peer == s && g.chunk == h.chunk) {
            h.done = g.done = true;
            peer.queue[{h.kind, h.chunk}].push_back(h.micro);
            any = true;
            break;
          }
      }
    return any;
  }

  bool finish_exchange(int s) {
    Rank& r = ranks_[size_t(s)];
    if (!r.posting) return false;
    for (const Half& h : r.posted)
      if (!h.done) return false;
    r.posting = false;
    if (++r.phase == 3) {
      r.phase = 0;
      ++r.step;
    }
    return true;
  }

  int p_, v_;
  int64_t m_;
  bool gradient_first_;
  std::vector<std::vector<PipelineStep>> plans_;
  std::vector<Rank> ranks_;
};

}  // namespace

TEST(InterleavedOrder, MatchesTheClosedForm) {
  for (int p : {2, 3, 4})
    for (int v : {2, 3})
      for (int64_t m : {int64_t(p), int64_t(2 * p), int64_t(3 * p)})
        for (int s = 0; s < p; ++s) {
          const auto order = interleaved_order(s, p, v, m);
          ASSERT_EQ(int64_t(order.size()), 2 * m * v);
          std::vector<std::pair<int64_t, int>> forwards, backwards;
          int64_t before_first_backward = -1;
          for (const PipelineOp& op : order) {
            if (op.phase == 'F') forwards.emplace_back(op.micro, op.chunk);
            if (op.phase == 'B') backwards.emplace_back(op.micro, op.chunk);
            if (op.phase == 'B' && before_first_backward < 0)
              before_first_backward = int64_t(forwards.size());
          }
          const std::string where = "p=" + std::to_string(p) + " v=" + std::to_string(v) +
                                    " m=" + std::to_string(m) + " s=" + std::to_string(s);
          // The warm-up forwards, then the first steady step's forward (when there is one).
          const int64_t warmup = std::min<int64_t>((p - s - 1) * 2 + (v - 1) * p, m * v);
          EXPECT_EQ(before_first_backward, warmup + (warmup < m * v ? 1 : 0)) << where;
          for (int64_t k = 0; k < m * v; ++k) {
            const auto [micro, chunk] = nth(k, p, v);
            EXPECT_EQ(forwards[size_t(k)], std::make_pair(micro, chunk)) << where << " F " << k;
            EXPECT_EQ(backwards[size_t(k)], std::make_pair(micro, v - 1 - chunk))
                << where << " B " << k;
          }
          // After the warm-up a forward and a backward alternate until the forwards run out.
          for (int64_t i = 0; i < m * v - warmup; ++i) {
            EXPECT_EQ(order[size_t(warmup + 2 * i)].phase, 'F') << where;
            EXPECT_EQ(order[size_t(warmup + 2 * i + 1)].phase, 'B') << where;
          }
        }
}

TEST(InterleavedOrder, OneChunkIsOneFOneB) {
  for (int s = 0; s < 4; ++s) {
    const auto order = interleaved_order(s, 4, 1, 6);
    const auto plain = one_f_one_b_order(s, 4, 6);
    ASSERT_EQ(order.size(), plain.size());
    for (size_t i = 0; i < order.size(); ++i) {
      EXPECT_EQ(order[i].phase, plain[i].first);
      EXPECT_EQ(order[i].micro, plain[i].second);
      EXPECT_EQ(order[i].chunk, 0);
    }
  }
}

TEST(InterleavedOrder, MicroBatchesMustFillGroupsOfP) {
  const std::string e = error_message([] { interleaved_order(0, 4, 2, 6); });
  EXPECT_TRUE(contains(e, "m = 6, p = 4, v = 2")) << e;
  EXPECT_TRUE(contains(e, "multiple of the pipeline size")) << e;
  EXPECT_TRUE(contains(error_message([] { interleaved_plan(0, 1, 2, 4); }), "2 pipeline ranks"));
}

TEST(InterleavedPlan, EveryRankFinishesWithoutDeadlock) {
  for (int p : {2, 3, 4, 5, 8})
    for (int v : {2, 3, 4})
      for (int64_t groups : {1, 2, 3}) {
        RendezvousSimulator sim(p, v, groups * p);
        ASSERT_TRUE(sim.run()) << "deadlock at p=" << p << " v=" << v << " m=" << groups * p;
        sim.expect_complete();
      }
}

TEST(InterleavedPlan, GradientExchangeFirstDeadlocks) {
  // The simulator sees a deadlock when there is one: the same plan with the exchanges swapped.
  EXPECT_FALSE(RendezvousSimulator(2, 2, 2, /*gradient_first=*/true).run());
}

namespace {

// Ideal timeline: each compute starts once its rank is free and its input has arrived (F on
// virtual stage k after F on k-1; B on k after B on k+1); a chunk's compute takes 1/v of a stage's.
std::vector<TimelineEvent> ideal_timeline(int p, int v, int64_t m, double tf, double tb) {
  std::vector<std::vector<PipelineOp>> order;
  for (int s = 0; s < p; ++s) order.push_back(interleaved_order(s, p, v, m));
  std::map<std::tuple<char, int64_t, int>, double> done;  // (phase, micro, virtual stage)
  std::vector<size_t> next(size_t(p), 0);
  std::vector<double> free_at(size_t(p), 0.0);
  std::vector<TimelineEvent> events;
  for (bool progress = true; progress;) {
    progress = false;
    for (int s = 0; s < p; ++s)
      while (next[size_t(s)] < order[size_t(s)].size()) {
        const PipelineOp op = order[size_t(s)][next[size_t(s)]];
        const int k = op.chunk * p + s;
        double ready = 0;
        const bool has_dep = op.phase == 'F' ? k > 0 : k < p * v - 1;
        if (has_dep) {
          auto it = done.find({op.phase, op.micro, op.phase == 'F' ? k - 1 : k + 1});
          if (it == done.end()) break;
          ready = it->second;
        }
        const double start = std::max(ready, free_at[size_t(s)]);
        const double end = start + (op.phase == 'F' ? tf : tb) / v;
        free_at[size_t(s)] = end;
        done[{op.phase, op.micro, k}] = end;
        events.push_back({s, s, op.micro, op.phase, start, end, 0, op.chunk});
        ++next[size_t(s)];
        progress = true;
      }
  }
  return events;
}

}  // namespace

TEST(InterleavedBubble, IdealTimelineMatchesClosedForm) {
  for (int p : {2, 4, 8})
    for (int v : {2, 4})
      for (int64_t m : {int64_t(p), int64_t(2 * p), int64_t(4 * p)}) {
        const auto ev = ideal_timeline(p, v, m, 1.0, 2.0);
        ASSERT_EQ(int64_t(ev.size()), 2 * p * v * m) << "stalled at p=" << p << " v=" << v;
        EXPECT_NEAR(bubble_fraction(ev, p), double(p - 1) / double(v * m + p - 1), 1e-12)
            << "p=" << p << " v=" << v << " m=" << m;
      }
}
