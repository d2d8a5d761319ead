// CommCheckpointGroup: a checkpoint's broadcast and sum are collectives of the communicator it
// wraps (same results as MPI, counted in its statistics and sequence), and HDF5 gets its handle.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xomni/parallel/comm_checkpoint_group.h"

using namespace xomni;
using namespace xomni::parallel;

TEST(CommCheckpointGroup, BroadcastAndSumAreCountedCollectives) {
  auto world = mpi_world();
  CommCheckpointGroup group(*world);
  const int rank = world->rank(), size = world->size();
  EXPECT_EQ(group.rank(), rank);
  EXPECT_EQ(group.size(), size);
  EXPECT_EQ(group.mpi_comm(), world->handle());
  const int64_t sequence = world->sequence();
  const CommStats before = world->stats();

  const int root = size - 1;
  std::string text = rank == root ? "from the last rank" : std::string(18, '?');
  group.broadcast(text.data(), int64_t(text.size()), root);
  EXPECT_EQ(text, "from the last rank");

  std::vector<int64_t> values = {rank + 1, -int64_t(rank), int64_t(1) << 40};
  group.sum(values.data(), int64_t(values.size()));
  EXPECT_EQ(values[0], int64_t(size) * (size + 1) / 2);
  EXPECT_EQ(values[1], -int64_t(size) * (size - 1) / 2);
  EXPECT_EQ(values[2], int64_t(size) << 40);

  EXPECT_EQ(world->sequence(), sequence + 2);
  const CommStats& after = world->stats();
  const std::pair<CommOp, int64_t> expected[] = {{CommOp::broadcast, 18}, {CommOp::all_reduce, 24}};
  for (const auto& [op, bytes] : expected) {
    EXPECT_EQ(after.calls[int(op)] - before.calls[int(op)], 1) << comm_op_name(op);
    EXPECT_EQ(after.bytes[int(op)] - before.bytes[int(op)], bytes) << comm_op_name(op);
  }
}
