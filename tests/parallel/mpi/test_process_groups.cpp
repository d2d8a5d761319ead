// ProcessGroups at 2-8 ranks: every group's communicator holds exactly the ranks group_ranks()
// lists (checked by its metadata and by an all_reduce of world ranks over it).
#include <gtest/gtest.h>

#include <numeric>

#include "check.h"
#include "xomni/parallel/mpi_comm.h"
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

void check_groups(const MpiCommunicator& world, const Layout& layout) {
  SCOPED_TRACE(layout.str());
  ProcessGroups pg(world, layout);
  const int me = world.rank();
  EXPECT_EQ(pg.layout(), layout);
  EXPECT_EQ(pg.world_rank(), me);
  EXPECT_EQ(pg.coord(), coord_of(layout, me));
  EXPECT_EQ(pg.world().size(), world.size());
  EXPECT_EQ(pg.world().rank(), me);
  EXPECT_NE(pg.mpi_world().handle(), world.handle());

  struct Named {
    const char* dims;
    Communicator* comm;
  };
  const Named groups[] = {{"tp", &pg.tp()},
                          {"cp", &pg.cp()},
                          {"dp", &pg.dp()},
                          {"pp", &pg.pp()},
                          {"dp+cp", &pg.dp_cp()},
                          {"tp+cp", &pg.tp_cp()},
                          {"tp+pp", &pg.model_parallel()}};
  for (const Named& g : groups) {
    SCOPED_TRACE(g.dims);
    const std::vector<int> want = group_ranks(layout, me, g.dims);
    Communicator& c = *g.comm;
    EXPECT_EQ(c.name(), g.dims);
    EXPECT_EQ(c.world_ranks(), want);
    ASSERT_EQ(c.size(), int(want.size()));
    EXPECT_EQ(want[size_t(c.rank())], me);
    // The communicator really connects these ranks: the sum of its members' world ranks.
    Tensor t = Tensor::full({1}, double(me), DType::i64);
    c.all_reduce(t);
    EXPECT_EQ(t.to_vector<int64_t>()[0], std::accumulate(want.begin(), want.end(), int64_t(0)));
  }
  // Lookup by dims in any order.
  EXPECT_EQ(&pg.group("cp+dp"), &pg.dp_cp());
  EXPECT_EQ(&pg.group("dp+cp"), &pg.dp_cp());
  EXPECT_EQ(&pg.group("pp+tp"), &pg.model_parallel());
  EXPECT_EQ(&pg.group("cp+tp"), &pg.tp_cp());
  EXPECT_EQ(&pg.group("dp"), &pg.dp());
  EXPECT_EQ(&pg.group("pp+dp+cp+tp"), &pg.world());
  std::string m = error_message([&] { pg.group("tp+dp"); });
  EXPECT_NE(m.find("no group 'tp+dp'"), std::string::npos) << m;
}

}  // namespace

TEST(ProcessGroups, EveryGroupHoldsTheRightRanks) {
  auto world = mpi_world();
  const int n = world->size();
  // A few layouts per world size, covering every dimension.
  const Layout layouts[] = {make(1, 1, 1, 1), make(2, 1, 1, 1), make(1, 1, 2, 1), make(1, 2, 1, 1),
                            make(1, 1, 1, 2), make(2, 1, 2, 1), make(1, 2, 2, 1), make(2, 1, 1, 2),
                            make(1, 1, 2, 2), make(2, 2, 2, 1), make(2, 1, 2, 2), make(2, 2, 1, 2),
                            make(1, 2, 2, 2), make(8, 1, 1, 1)};
  int checked = 0;
  for (const Layout& l : layouts) {
    if (l.world() != n) continue;
    check_groups(*world, l);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ProcessGroups, ResolvedLayoutFillsTheWorld) {
  auto world = mpi_world();
  Layout l = resolve_layout(make(world->size() >= 2 ? 2 : 1, 1, 0, 1), world->size(), "test");
  EXPECT_EQ(l.world(), world->size());
  check_groups(*world, l);
}

TEST(ProcessGroups, RejectsALayoutOfAnotherSize) {
  auto world = mpi_world();
  const int n = world->size();
  std::string m = error_message([&] { ProcessGroups pg(*world, make(1, 1, n + 1, 1)); });
  EXPECT_NE(m.find("needs " + std::to_string(n + 1) + " ranks but communicator 'world' has " +
                   std::to_string(n)),
            std::string::npos)
      << m;
}
