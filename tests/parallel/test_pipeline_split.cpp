// Pipeline parallelism without MPI: the layer split (even, configured, and the errors naming the
// numbers), the 1F1B order of each stage, and the bubble fraction of a simulated ideal timeline
// against the closed form (p-1)/(m+p-1).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "check.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::parallel;
using xomni::test::error_message;

namespace {
using Ranges = std::vector<std::pair<int64_t, int64_t>>;
using xomni::test::contains;
}  // namespace

TEST(PipelineSplit, EvenSplitGivesExtrasToStagesAfterTheFirst) {
  EXPECT_EQ(split_layers(8, 4, {}, "t"), (Ranges{{0, 2}, {2, 4}, {4, 6}, {6, 8}}));
  // 10 = 4 x 2 + 2: stages 1 and 2 get the extra layers.
  EXPECT_EQ(split_layers(10, 4, {}, "t"), (Ranges{{0, 2}, {2, 5}, {5, 8}, {8, 10}}));
  // 7 = 4 x 1 + 3: every stage but the first.
  EXPECT_EQ(split_layers(7, 4, {}, "t"), (Ranges{{0, 1}, {1, 3}, {3, 5}, {5, 7}}));
  EXPECT_EQ(split_layers(5, 1, {}, "t"), (Ranges{{0, 5}}));
  EXPECT_EQ(split_layers(3, 3, {}, "t"), (Ranges{{0, 1}, {1, 2}, {2, 3}}));
}

TEST(PipelineSplit, ConfiguredSizes) {
  EXPECT_EQ(split_layers(6, 2, {1, 5}, "t"), (Ranges{{0, 1}, {1, 6}}));
  EXPECT_EQ(split_layers(6, 4, {1, 2, 1, 2}, "t"), (Ranges{{0, 1}, {1, 3}, {3, 4}, {4, 6}}));
}

TEST(PipelineSplit, ErrorsNameTheNumbers) {
  std::string m = error_message([] { split_layers(6, 2, {2, 3}, "job.toml [parallel]"); });
  EXPECT_TRUE(contains(m,
                       "job.toml [parallel]: the layer split sums to 5 layers but the model "
                       "has 6"))
      << m;
  m = error_message([] { split_layers(6, 3, {2, 4}, "w"); });
  EXPECT_TRUE(contains(m, "w: the layer split has 2 entries but there are 3 pipeline stages")) << m;
  m = error_message([] { split_layers(6, 3, {3, 0, 3}, "w"); });
  EXPECT_TRUE(contains(m, "w: stage 1 of the layer split has 0 layers")) << m;
  m = error_message([] { split_layers(3, 4, {}, "w"); });
  EXPECT_TRUE(contains(m, "w: 3 layers cannot fill 4 pipeline stages")) << m;
  m = error_message([] { split_layers(3, 0, {}, "w"); });
  EXPECT_TRUE(contains(m, "at least 1 stage, got 0")) << m;
}

// The order written out by hand for p = 4, m = 6.
TEST(PipelineOrder, HandWrittenFourStages) {
  using O = std::vector<std::pair<char, int64_t>>;
  EXPECT_EQ(one_f_one_b_order(0, 4, 6), (O{{'F', 0},
                                           {'F', 1},
                                           {'F', 2},
                                           {'F', 3},
                                           {'B', 0},
                                           {'F', 4},
                                           {'B', 1},
                                           {'F', 5},
                                           {'B', 2},
                                           {'B', 3},
                                           {'B', 4},
                                           {'B', 5}}));
  EXPECT_EQ(one_f_one_b_order(3, 4, 6), (O{{'F', 0},
                                           {'B', 0},
                                           {'F', 1},
                                           {'B', 1},
                                           {'F', 2},
                                           {'B', 2},
                                           {'F', 3},
                                           {'B', 3},
                                           {'F', 4},
                                           {'B', 4},
                                           {'F', 5},
                                           {'B', 5}}));
  // Fewer micro-batches than stages: all forwards, then all backwards.
  EXPECT_EQ(one_f_one_b_order(0, 4, 2), (O{{'F', 0}, {'F', 1}, {'B', 0}, {'B', 1}}));
}

namespace {
// Ideal 1F1B on p stages with forward time tf and backward time tb: every op starts as soon as
// its stage is free and its input has arrived (F(s,i) after F(s-1,i); B(s,i) after B(s+1,i)).
std::vector<TimelineEvent> simulate(int p, int64_t m, double tf, double tb) {
  std::vector<std::vector<std::pair<char, int64_t>>> order(static_cast<size_t>(p));
  for (int s = 0; s < p; ++s) order[size_t(s)] = one_f_one_b_order(s, p, m);
  std::map<std::tuple<int, char, int64_t>, double> done;
  std::vector<size_t> next(size_t(p), 0);
  std::vector<double> free_at(size_t(p), 0.0);
  std::vector<TimelineEvent> events;
  for (bool progress = true; progress;) {
    progress = false;
    for (int s = 0; s < p; ++s) {
      while (next[size_t(s)] < order[size_t(s)].size()) {
        auto [ph, i] = order[size_t(s)][next[size_t(s)]];
        double ready = 0;
        if (ph == 'F' && s > 0) {
          auto it = done.find({s - 1, 'F', i});
          if (it == done.end()) break;
          ready = it->second;
        }
        if (ph == 'B' && s < p - 1) {
          auto it = done.find({s + 1, 'B', i});
          if (it == done.end()) break;
          ready = it->second;
        }
        const double start = std::max(ready, free_at[size_t(s)]);
        const double end = start + (ph == 'F' ? tf : tb);
        free_at[size_t(s)] = end;
        done[{s, ph, i}] = end;
        events.push_back({s, s, i, ph, start, end, 0});
        ++next[size_t(s)];
        progress = true;
      }
    }
  }
  return events;
}
}  // namespace

TEST(PipelineBubble, IdealTimelineMatchesClosedForm) {
  for (int p : {1, 2, 3, 4, 8})
    for (int64_t m : {1, 2, 4, 8, 16}) {
      const auto ev = simulate(p, m, 1.0, 2.0);
      ASSERT_EQ(int64_t(ev.size()), 2 * p * m) << "simulation stalled at p=" << p << " m=" << m;
      const double want = double(p - 1) / double(m + p - 1);
      EXPECT_NEAR(bubble_fraction(ev, p), want, 1e-12) << "p=" << p << " m=" << m;
    }
}

TEST(PipelineBubble, HandComputedTimeline) {
  // Two stages: busy 3 s of a 4 s span on rank 0 and 2 s on rank 1: 1 - 5 / 8.
  std::vector<TimelineEvent> ev = {{0, 0, 0, 'F', 1.0, 2.0, 0},
                                   {0, 0, 0, 'B', 3.0, 5.0, 0},
                                   {1, 1, 0, 'F', 2.0, 3.0, 0},
                                   {1, 1, 0, 'B', 4.0, 5.0, 0}};
  EXPECT_DOUBLE_EQ(bubble_fraction(ev, 2), 1.0 - 5.0 / 8.0);
  EXPECT_TRUE(contains(error_message([] { bubble_fraction({}, 2); }), "no events"));
}
