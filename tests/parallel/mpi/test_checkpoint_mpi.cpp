// Parallel checkpoints with tensor-parallel boxes further cut into ZeRO-1 flat ranges that start
// and end mid-row: every rank writes its own range collectively, one rank alone writes a
// replicated tensor, and every rank reads the file back at a different decomposition (and
// whole), compared with closed-form values. Runs at 2 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <string>
#include <vector>

#include "xomni/core/io/checkpoint.h"
#include "xomni/parallel/comm_checkpoint_group.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kRows = 6, kCols = 10;

// Element (i, j) of tensor number t: distinct across tensors and exact in f32.
float value(int t, int64_t i, int64_t j) {
  return float(1000 * t + 100 * i + j) + 0.5f;
}

struct Box {
  Shape offset, shape;
};

// Part p of `parts` of [kRows, kCols] split along `dim` (uneven parts differ by at most one).
Box tp_box(int dim, int p, int parts) {
  const int64_t n = dim == 0 ? kRows : kCols;
  const int64_t lo = n * p / parts, hi = n * (p + 1) / parts;
  return dim == 0 ? Box{{lo, 0}, {hi - lo, kCols}} : Box{{0, lo}, {kRows, hi - lo}};
}

// Boundary k of `parts` ZeRO ranges of `n` elements: shifted by k off the even split so that
// ranges start and end mid-row.
int64_t zero_cut(int64_t n, int k, int parts) {
  if (k == 0) return 0;
  if (k == parts) return n;
  return n * k / parts + k;
}

// Elements [begin, end) of the row-major flattening of box `b` of tensor t, in that order.
std::vector<float> expected_range(int t, const Box& b, int64_t begin, int64_t end) {
  std::vector<float> v;
  for (int64_t k = begin; k < end; ++k)
    v.push_back(value(t, b.offset[0] + k / b.shape[1], b.offset[1] + k % b.shape[1]));
  return v;
}

std::vector<float> values(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

// A name every rank agrees on: rank 0's fresh temporary directory.
std::string shared_temp_dir() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string dir;
  if (rank == 0) {
    std::string tmpl = (fs::temp_directory_path() / "xomni_ckpt_mpi_XXXXXX").string();
    if (mkdtemp(tmpl.data())) dir = tmpl;
  }
  int len = int(dir.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  dir.resize(size_t(len));
  MPI_Bcast(dir.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  return dir;
}

// How one tensor is laid out: tp boxes split along tp_dim, each cut into dp ZeRO ranges;
// rank = tp rank + tp * dp rank.
struct Layout {
  int tp, tp_dim;
};

}  // namespace

TEST(CheckpointMpi, TpBoxesCutIntoZeroRangesReadBackAtOtherDecompositions) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 2 && world != 4) GTEST_SKIP() << "needs 2 or 4 ranks, got " << world;
  const std::string dir = shared_temp_dir();
  ASSERT_FALSE(dir.empty());

  // Tensors 0..2: TP on rows, TP on columns, pure ZeRO over the whole tensor.
  const std::vector<Layout> layouts = {{2, 0}, {2, 1}, {1, 0}};
  bool some_cut_mid_row = false;
  std::string path;
  const auto comm = parallel::mpi_world();
  parallel::CommCheckpointGroup group(*comm);
  {
    CheckpointWriter w(dir, 5, group);
    for (size_t t = 0; t < layouts.size(); ++t) {
      const Layout& l = layouts[t];
      const int dp = world / l.tp, tp_rank = rank % l.tp, dp_rank = rank / l.tp;
      const Box b = tp_box(l.tp_dim, tp_rank, l.tp);
      const int64_t n = b.shape[0] * b.shape[1];
      const int64_t begin = zero_cut(n, dp_rank, dp), end = zero_cut(n, dp_rank + 1, dp);
      if (begin % b.shape[1] != 0 || end % b.shape[1] != 0) some_cut_mid_row = true;
      const std::string name = "model/t" + std::to_string(t);
      w.create_tensor(name, {kRows, kCols}, DType::f32);
      const std::vector<float> mine = expected_range(int(t), b, begin, end);
      w.write_box_range(name, Tensor::from_vector<float>(mine, {int64_t(mine.size())}), b.offset,
                        b.shape, begin);
    }
    // Replicated (like a norm weight): rank 0 writes it all, the others nothing.
    w.create_tensor("model/norm", {kCols}, DType::f32);
    std::vector<float> norm;
    for (int64_t j = 0; j < kCols; ++j) norm.push_back(value(7, 0, j));
    const Tensor mine =
        rank == 0 ? Tensor::from_vector<float>(norm, {kCols}) : Tensor::empty({0}, DType::f32);
    w.write_box_range("model/norm", mine, {0}, {kCols}, 0);
    path = w.commit();
  }
  int any_mid_row = some_cut_mid_row ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &any_mid_row, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(any_mid_row, 1) << "the test's ZeRO cuts should cut rows mid-way";

  // Opening with checksum verification checks every dataset's CRC-32.
  CheckpointReader r(path, group, CheckpointVerify::checksums);
  EXPECT_EQ(r.step(), 5);
  EXPECT_NO_THROW(r.verify_checksums());
  for (int t = 0; t < int(layouts.size()); ++t) {
    const std::string name = "model/t" + std::to_string(t);
    const Box whole{{0, 0}, {kRows, kCols}};
    EXPECT_EQ(values(r.read_tensor(name)), expected_range(t, whole, 0, kRows * kCols)) << name;
    // Another decomposition: `world` column boxes (or row boxes for the column-split tensor),
    // each read from a rank-dependent mid-row start to a mid-row end.
    const Box b = tp_box(layouts[size_t(t)].tp_dim == 1 ? 0 : 1, rank, world);
    const int64_t n = b.shape[0] * b.shape[1];
    const int64_t begin = 1 + rank % 3, end = n - 1 - rank % 2;
    EXPECT_EQ(values(r.read_box_range(name, b.offset, b.shape, begin, end)),
              expected_range(t, b, begin, end))
        << name << " on rank " << rank;
    // The rank's write range under the other ranks' layout: the next rank's range.
    const Layout& l = layouts[size_t(t)];
    const int other = (rank + 1) % world, dp = world / l.tp;
    const Box ob = tp_box(l.tp_dim, other % l.tp, l.tp);
    const int64_t on = ob.shape[0] * ob.shape[1];
    const int64_t ob0 = zero_cut(on, other / l.tp, dp), ob1 = zero_cut(on, other / l.tp + 1, dp);
    EXPECT_EQ(values(r.read_box_range(name, ob.offset, ob.shape, ob0, ob1)),
              expected_range(t, ob, ob0, ob1))
        << name << " on rank " << rank;
  }
  std::vector<float> norm;
  for (int64_t j = 0; j < kCols; ++j) norm.push_back(value(7, 0, j));
  EXPECT_EQ(values(r.read_tensor("model/norm")), norm);
  EXPECT_EQ(values(r.read_box_range("model/norm", {2}, {7}, 1, 5)),
            std::vector<float>(norm.begin() + 3, norm.begin() + 7));

  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}
