// Process-group topology without MPI: coordinates, group membership against hand-written lists,
// layout resolution and model-fit messages.
#include <gtest/gtest.h>

#include <algorithm>

#include "check.h"
#include "xomni/parallel/topology.h"

using namespace xomni;
using namespace xomni::parallel;
using xomni::test::error_message;

namespace {
Layout make(int tp, int cp, int dp, int pp) {
  Layout l;
  l.tp = tp;
  l.cp = cp;
  l.dp = dp;
  l.pp = pp;
  return l;
}
}  // namespace

TEST(Topology, CoordRoundTripEveryRank) {
  for (const Layout& l : {make(2, 2, 2, 1), make(2, 1, 2, 2), make(3, 1, 2, 2), make(1, 1, 1, 1)}) {
    for (int r = 0; r < l.world(); ++r) {
      Coord c = coord_of(l, r);
      EXPECT_EQ(rank_of(l, c), r) << l.str();
      // The documented order: rank = tp + TP*(cp + CP*(dp + DP*pp)).
      EXPECT_EQ(c.tp + l.tp * (c.cp + l.cp * (c.dp + l.dp * c.pp)), r) << l.str();
    }
  }
}

TEST(Topology, CoordsFollowMegatronOrder) {
  Layout l = make(2, 2, 2, 1);
  EXPECT_EQ(coord_of(l, 0), (Coord{0, 0, 0, 0}));
  EXPECT_EQ(coord_of(l, 1), (Coord{1, 0, 0, 0}));
  EXPECT_EQ(coord_of(l, 2), (Coord{0, 1, 0, 0}));
  EXPECT_EQ(coord_of(l, 5), (Coord{1, 0, 1, 0}));
  EXPECT_EQ(coord_of(l, 7), (Coord{1, 1, 1, 0}));
  Layout m = make(2, 1, 2, 2);
  EXPECT_EQ(coord_of(m, 5), (Coord{1, 0, 0, 1}));
  EXPECT_EQ(coord_of(m, 6), (Coord{0, 0, 1, 1}));
}

TEST(Topology, CoordRejectsOutOfRange) {
  Layout l = make(2, 1, 2, 1);
  EXPECT_NE(error_message([&] { coord_of(l, 4); }).find("rank 4 is outside layout"),
            std::string::npos);
  EXPECT_NE(error_message([&] {
              rank_of(l, Coord{2, 0, 0, 0});
            }).find("is outside layout"),
            std::string::npos);
}

TEST(Topology, GroupRanksTpDpPp) {
  Layout l = make(2, 1, 2, 2);  // ranks: tp fastest, then dp, then pp
  using V = std::vector<int>;
  EXPECT_EQ(group_ranks(l, 5, "tp"), (V{4, 5}));
  EXPECT_EQ(group_ranks(l, 5, "dp"), (V{5, 7}));
  EXPECT_EQ(group_ranks(l, 5, "pp"), (V{1, 5}));
  EXPECT_EQ(group_ranks(l, 5, "cp"), (V{5}));
  EXPECT_EQ(group_ranks(l, 5, "tp+pp"), (V{0, 1, 4, 5}));
  EXPECT_EQ(group_ranks(l, 5, "pp+tp"), (V{0, 1, 4, 5}));
  EXPECT_EQ(group_ranks(l, 5, "tp+dp"), (V{4, 5, 6, 7}));
  EXPECT_EQ(group_ranks(l, 2, "dp+pp"), (V{0, 2, 4, 6}));
  EXPECT_EQ(group_ranks(l, 0, "tp+cp+dp+pp"), (V{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Topology, GroupRanksTpCpDp) {
  Layout l = make(2, 2, 2, 1);
  using V = std::vector<int>;
  EXPECT_EQ(group_ranks(l, 6, "tp"), (V{6, 7}));
  EXPECT_EQ(group_ranks(l, 6, "cp"), (V{4, 6}));
  EXPECT_EQ(group_ranks(l, 6, "dp"), (V{2, 6}));
  EXPECT_EQ(group_ranks(l, 6, "dp+cp"), (V{0, 2, 4, 6}));
  EXPECT_EQ(group_ranks(l, 6, "cp+dp"), (V{0, 2, 4, 6}));
  EXPECT_EQ(group_ranks(l, 6, "tp+cp"), (V{4, 5, 6, 7}));
  EXPECT_EQ(group_ranks(l, 3, "pp"), (V{3}));
}

TEST(Topology, GroupsPartitionTheWorld) {
  // Each group of every dims set: every rank in exactly one group, all groups the same size.
  Layout l = make(2, 2, 2, 2);
  for (const char* dims : {"tp", "cp", "dp", "pp", "dp+cp", "tp+cp", "tp+pp"}) {
    std::vector<int> seen(size_t(l.world()), 0);
    for (int r = 0; r < l.world(); ++r) {
      auto g = group_ranks(l, r, dims);
      EXPECT_NE(std::find(g.begin(), g.end(), r), g.end()) << dims;
      if (g.front() == r)
        for (int m : g) seen[size_t(m)] += 1;
      EXPECT_EQ(g.size(), std::string(dims).size() > 2 ? 4u : 2u) << dims;
    }
    for (int s : seen) EXPECT_EQ(s, 1) << dims;
  }
}

TEST(Topology, GroupRanksRejectsBadDims) {
  Layout l = make(2, 1, 2, 1);
  EXPECT_NE(error_message([&] { group_ranks(l, 0, "tp+xp"); }).find("unknown dimension 'xp'"),
            std::string::npos);
  EXPECT_NE(error_message([&] { group_ranks(l, 0, "dp+dp"); }).find("appears twice"),
            std::string::npos);
  EXPECT_NE(error_message([&] { group_ranks(l, 0, ""); }).find("unknown dimension"),
            std::string::npos);
}

TEST(Topology, ResolveLayoutFillsDp) {
  EXPECT_EQ(resolve_layout(make(2, 1, 0, 2), 8, "job.toml [parallel]"), make(2, 1, 2, 2));
  EXPECT_EQ(resolve_layout(make(1, 1, 0, 1), 4, ""), make(1, 1, 4, 1));
  EXPECT_EQ(resolve_layout(make(2, 2, 2, 1), 8, ""), make(2, 2, 2, 1));
  EXPECT_EQ(make(2, 2, 2, 1).str(), "tp=2 cp=2 dp=2 pp=1");
}

TEST(Topology, ResolveLayoutMessages) {
  const std::string w = "job.toml [parallel]";
  EXPECT_EQ(
      error_message([&] { resolve_layout(make(3, 1, 0, 2), 4, w); }),
      "job.toml [parallel]: tp*cp*pp = 3*1*2 = 6 does not divide the world size 4 (mpirun -np 4)");
  EXPECT_EQ(error_message([&] { resolve_layout(make(0, 1, 0, 1), 4, w); }),
            "job.toml [parallel]: tp=0 must be at least 1");
  EXPECT_EQ(error_message([&] { resolve_layout(make(1, -1, 0, 1), 4, w); }),
            "job.toml [parallel]: cp=-1 must be at least 1");
  EXPECT_EQ(error_message([&] { resolve_layout(make(1, 1, 0, 0), 4, w); }),
            "job.toml [parallel]: pp=0 must be at least 1");
  EXPECT_NE(error_message([&] { resolve_layout(make(1, 1, -2, 1), 4, w); }).find("dp=-2"),
            std::string::npos);
  std::string m = error_message([&] { resolve_layout(make(2, 1, 2, 1), 8, w); });
  EXPECT_NE(m.find("tp*cp*dp*pp = 2*1*2*1 = 4 is not the world size 8 (mpirun -np 8)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("dp=4"), std::string::npos) << m;
}

TEST(Topology, CheckModelFits) {
  ModelDims d;
  d.num_attention_heads = 4;
  d.num_key_value_heads = 2;
  d.vocab_size = 96;
  d.intermediate_size = 64;
  d.num_hidden_layers = 4;
  const std::string w = "job.toml [parallel]";
  EXPECT_EQ(error_message([&] { check_model_fits(make(2, 1, 1, 4), d, w); }), "no error");
  EXPECT_EQ(error_message([&] { check_model_fits(make(3, 1, 1, 1), d, w); }),
            "job.toml [parallel]: tp=3 does not divide model.num_attention_heads=4");
  EXPECT_EQ(error_message([&] { check_model_fits(make(4, 1, 1, 1), d, w); }),
            "job.toml [parallel]: tp=4 does not divide model.num_key_value_heads=2");
  d.num_key_value_heads = 4;
  d.vocab_size = 90;
  EXPECT_EQ(error_message([&] { check_model_fits(make(4, 1, 1, 1), d, w); }),
            "job.toml [parallel]: tp=4 does not divide model.vocab_size=90");
  d.vocab_size = 96;
  d.intermediate_size = 66;
  EXPECT_EQ(error_message([&] { check_model_fits(make(4, 1, 1, 1), d, w); }),
            "job.toml [parallel]: tp=4 does not divide model.intermediate_size=66");
  d.intermediate_size = 64;
  EXPECT_NE(error_message([&] {
              check_model_fits(make(1, 1, 1, 5), d, w);
            }).find("job.toml [parallel]: pp=5 exceeds model.num_hidden_layers=4"),
            std::string::npos);
  // Interleaved 1F1B: pp x virtual_stages virtual stages, each with a layer.
  EXPECT_EQ(error_message([&] { check_model_fits(make(1, 1, 1, 2), d, w, 2); }), "no error");
  EXPECT_EQ(error_message([&] { check_model_fits(make(1, 1, 1, 2), d, w, 3); }),
            "job.toml [parallel]: pp=2 x virtual_stages=3 = 6 virtual stages exceed "
            "model.num_hidden_layers=4 (every virtual stage needs at least one layer)");
  EXPECT_EQ(error_message([&] { check_model_fits(make(1, 1, 1, 1), d, w, 2); }),
            "job.toml [parallel]: virtual_stages=2 needs a pipeline (pp >= 2), got pp=1");
}
