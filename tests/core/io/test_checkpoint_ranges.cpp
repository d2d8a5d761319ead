// Flat ranges of boxes in checkpoints (what a ZeRO-1 shard of a tensor-parallel shard owns): the
// decomposition into boxes, checked exhaustively on small shapes against plain index arithmetic;
// writing a tensor as several box ranges; reading box ranges back; h5py reading the result.
// One plain process (MPI is never initialised); tests/parallel/mpi/test_checkpoint_mpi.cpp covers
// MPI.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "check.h"
#include "io/checkpoint_box_range.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

class CheckpointRanges : public xomni::test::TempDirTest {};

using xomni::test::contains;

// Row-major flat index of `idx` in `shape`.
int64_t flat_index(const Shape& shape, const Shape& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}

// The flat indices (in `shape`) of a box's elements, in the box's row-major order.
std::vector<int64_t> box_elements(const Shape& shape, const ckpt::Box& b) {
  std::vector<int64_t> out;
  const int64_t n = shape_numel(b.shape);
  for (int64_t i = 0; i < n; ++i) {
    Shape idx(shape.size());
    int64_t rest = i;
    for (size_t d = shape.size(); d-- > 0;) {
      idx[d] = b.offset[d] + rest % b.shape[d];
      rest /= b.shape[d];
    }
    out.push_back(flat_index(shape, idx));
  }
  return out;
}

// Value of element (i, j) of the [6, 10] test tensor.
float grid_value(int64_t i, int64_t j) {
  return float(100 * i + j);
}

// Elements [begin, end) of the flattening of the box (offset, shape) of the [6, 10] grid.
std::vector<float> grid_box_range(const Shape& off, const Shape& shape, int64_t begin,
                                  int64_t end) {
  std::vector<float> v;
  for (int64_t k = begin; k < end; ++k)
    v.push_back(grid_value(off[0] + k / shape[1], off[1] + k % shape[1]));
  return v;
}

Tensor f32(const std::vector<float>& v) {
  return Tensor::from_vector<float>(v, {int64_t(v.size())});
}

std::vector<float> values(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  out->clear();
  while (size_t n = fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(CheckpointBoxRange, EveryRangeOfSmallShapesIsCoveredExactlyInOrder) {
  const std::vector<Shape> shapes = {{},           {5},          {1},          {3, 4},
                                     {1, 7},       {4, 1},       {2, 3, 4},    {3, 1, 2},
                                     {2, 3, 2, 3}, {1, 4, 1, 3}, {2, 2, 2, 2}, {0},
                                     {3, 0, 2},    {3, 3, 3},    {3, 3, 3, 3}};
  int64_t cases = 0;
  std::vector<int64_t> max_boxes(5, 0);  // by ndim
  for (const Shape& shape : shapes) {
    const int64_t n = shape_numel(shape);
    const int64_t bound = shape.empty() ? 1 : 2 * int64_t(shape.size()) - 1;
    for (int64_t b = 0; b <= n; ++b)
      for (int64_t e = b; e <= n; ++e) {
        const auto boxes = ckpt::flat_range_boxes(shape, b, e);
        const std::string what =
            shape_str(shape) + " [" + std::to_string(b) + ", " + std::to_string(e) + ")";
        EXPECT_LE(int64_t(boxes.size()), bound) << what;
        max_boxes[shape.size()] = std::max(max_boxes[shape.size()], int64_t(boxes.size()));
        std::vector<int64_t> got;
        for (const ckpt::Box& box : boxes) {
          ASSERT_EQ(box.offset.size(), shape.size()) << what;
          ASSERT_EQ(box.shape.size(), shape.size()) << what;
          EXPECT_GT(shape_numel(box.shape), 0) << what << ": empty box";
          for (size_t d = 0; d < shape.size(); ++d)
            ASSERT_TRUE(box.offset[d] >= 0 && box.shape[d] >= 0 &&
                        box.offset[d] + box.shape[d] <= shape[d])
                << what << ": box out of bounds in dim " << d;
          for (int64_t f : box_elements(shape, box)) got.push_back(f);
        }
        std::vector<int64_t> want;
        for (int64_t f = b; f < e; ++f) want.push_back(f);
        EXPECT_EQ(got, want) << what;
        ++cases;
      }
  }
  EXPECT_GT(cases, 5000);
  // The 2 * ndim - 1 bound is reached (with every dim >= 3).
  EXPECT_EQ(max_boxes, (std::vector<int64_t>{1, 1, 3, 5, 7}));
}

TEST(CheckpointBoxRange, MidRowRangeOfAMatrixIsThreeBoxes) {
  // Elements 2..8 of a [3, 4] box: the end of row 0, all of row 1, the start of row 2.
  const auto boxes = ckpt::flat_range_boxes({3, 4}, 2, 9);
  ASSERT_EQ(boxes.size(), 3u);
  EXPECT_EQ(boxes[0].offset, (Shape{0, 2}));
  EXPECT_EQ(boxes[0].shape, (Shape{1, 2}));
  EXPECT_EQ(boxes[1].offset, (Shape{1, 0}));
  EXPECT_EQ(boxes[1].shape, (Shape{1, 4}));
  EXPECT_EQ(boxes[2].offset, (Shape{2, 0}));
  EXPECT_EQ(boxes[2].shape, (Shape{1, 1}));
  const std::string msg = error_message([] { ckpt::flat_range_boxes({3, 4}, 5, 13); });
  EXPECT_TRUE(contains(msg, "[5, 13)") && contains(msg, "[3, 4]")) << msg;
}

TEST_F(CheckpointRanges, TensorWrittenAsTpBoxesSplitIntoFlatRangesReadsBackWhole) {
  std::string path;
  {
    CheckpointWriter w(dir_, 1);
    w.create_tensor("model/w", {6, 10}, DType::f32);
    // Two column shards [6, 4] at 0 and [6, 6] at 4, each cut into flat ranges mid-row (and one
    // empty range, as a rank without a part writes).
    struct Part {
      Shape off, shape;
      std::vector<int64_t> cuts;
    };
    for (const Part& p :
         {Part{{0, 0}, {6, 4}, {0, 7, 7, 24}}, Part{{0, 4}, {6, 6}, {0, 13, 30, 36}}})
      for (size_t k = 0; k + 1 < p.cuts.size(); ++k)
        w.write_box_range("model/w", f32(grid_box_range(p.off, p.shape, p.cuts[k], p.cuts[k + 1])),
                          p.off, p.shape, p.cuts[k]);
    // A 3-D i64 tensor in two ranges of the whole tensor, the first given as a [2, 3] view.
    w.create_tensor("model/idx", {2, 3, 5}, DType::i64);
    std::vector<int64_t> iv(30);
    for (int64_t k = 0; k < 30; ++k) iv[size_t(k)] = 1000 - 7 * k;
    w.write_box_range(
        "model/idx",
        Tensor::from_vector<int64_t>(std::vector<int64_t>(iv.begin(), iv.begin() + 6), {2, 3}),
        {0, 0, 0}, {2, 3, 5}, 0);
    w.write_box_range(
        "model/idx",
        Tensor::from_vector<int64_t>(std::vector<int64_t>(iv.begin() + 6, iv.end()), {24}),
        {0, 0, 0}, {2, 3, 5}, 6);
    // A scalar.
    w.create_tensor("model/s", {}, DType::f32);
    w.write_box_range("model/s", Tensor::from_vector<float>({2.5f}, {1}), {}, {}, 0);
    path = w.commit();
  }
  CheckpointReader r(path);
  Tensor t = r.read_tensor("model/w");
  ASSERT_EQ(t.shape(), (Shape{6, 10}));
  EXPECT_EQ(values(t), grid_box_range({0, 0}, {6, 10}, 0, 60));
  Tensor idx = r.read_tensor("model/idx");
  ASSERT_EQ(idx.shape(), (Shape{2, 3, 5}));
  for (int64_t k = 0; k < 30; ++k) EXPECT_EQ(idx.data<int64_t>()[k], 1000 - 7 * k) << k;
  EXPECT_EQ(r.read_tensor("model/s").data<float>()[0], 2.5f);
}

TEST_F(CheckpointRanges, ReadBoxRangeEqualsTheSliceOfAKnownTensor) {
  std::string path;
  {
    CheckpointWriter w(dir_, 2);
    std::vector<float> v;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 10; ++j) v.push_back(grid_value(i, j));
    w.write_tensor("model/w", Tensor::from_vector<float>(v, {6, 10}));
    path = w.commit();
  }
  CheckpointReader r(path);
  struct Case {
    Shape off, shape;
    int64_t b, e;
  };
  for (const Case& c :
       {Case{{0, 0}, {6, 10}, 0, 60}, Case{{0, 0}, {6, 10}, 13, 47}, Case{{0, 0}, {6, 10}, 5, 41},
        Case{{3, 0}, {3, 10}, 5, 6}, Case{{0, 5}, {6, 5}, 3, 27}, Case{{2, 3}, {3, 4}, 1, 11},
        Case{{2, 3}, {3, 4}, 4, 4}, Case{{5, 9}, {1, 1}, 0, 1}}) {
    Tensor t = r.read_box_range("model/w", c.off, c.shape, c.b, c.e);
    EXPECT_EQ(t.shape(), (Shape{c.e - c.b}));
    EXPECT_EQ(t.dtype(), DType::f32);
    EXPECT_EQ(values(t), grid_box_range(c.off, c.shape, c.b, c.e))
        << shape_str(c.off) << " " << shape_str(c.shape) << " [" << c.b << ", " << c.e << ")";
  }
  std::string msg = error_message([&] { r.read_box_range("model/w", {2, 3}, {5, 4}, 0, 1); });
  EXPECT_TRUE(contains(msg, "does not fit (dim 0)")) << msg;
  msg = error_message([&] { r.read_box_range("model/w", {2, 3}, {3, 4}, 5, 13); });
  EXPECT_TRUE(contains(msg, "[5, 13) is not inside the box")) << msg;
}

TEST_F(CheckpointRanges, MissingRangeFailsCoverageAndBadWritesAreRefused) {
  CheckpointWriter w(dir_, 3);
  w.create_tensor("model/w", {6, 10}, DType::f32);
  w.write_box_range("model/w", f32(grid_box_range({0, 0}, {6, 10}, 0, 50)), {0, 0}, {6, 10}, 0);
  std::string msg = error_message([&] {
    w.write_box_range("model/w", f32(std::vector<float>(5)), {0, 0}, {6, 10}, 58);
  });
  EXPECT_TRUE(contains(msg, "[58, 63) is not inside the box")) << msg;
  msg = error_message([&] {
    w.write_box_range("model/w", Tensor::zeros({2}, DType::f64), {0, 0}, {6, 10}, 50);
  });
  EXPECT_TRUE(contains(msg, "was created as f32 but the piece written is f64")) << msg;
  msg = error_message([&] { w.write_box_range("model/w", f32({1}), {0}, {6}, 0); });
  EXPECT_TRUE(contains(msg, "does not match its rank")) << msg;
  msg = error_message([&] { w.write_box_range("model/x", f32({1}), {0}, {1}, 0); });
  EXPECT_TRUE(contains(msg, "'model/x', which was not created")) << msg;
  msg = error_message([&] { w.commit(); });
  EXPECT_TRUE(contains(msg, "has 60 elements but the pieces written hold 50")) << msg;
}

TEST_F(CheckpointRanges, H5pyReadsTensorWrittenAsRanges) {
  std::string out;
  ASSERT_EQ(run_command("/usr/bin/python3 -c 'import h5py, numpy'", &out), 0)
      << "h5py/numpy are not importable by /usr/bin/python3 (" << out
      << "); install the Debian packages python3-h5py python3-numpy";
  std::string path;
  {
    CheckpointWriter w(dir_, 4);
    w.create_tensor("model/w", {6, 10}, DType::f32);
    // Row shards [3, 10] at rows 0 and 3, each in two ranges cut mid-row.
    for (int64_t r0 : {0, 3}) {
      w.write_box_range("model/w", f32(grid_box_range({r0, 0}, {3, 10}, 0, 17)), {r0, 0}, {3, 10},
                        0);
      w.write_box_range("model/w", f32(grid_box_range({r0, 0}, {3, 10}, 17, 30)), {r0, 0}, {3, 10},
                        17);
    }
    path = w.commit();
  }
  const std::string script =
      "import sys, zlib, h5py, numpy as np\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "w = f['model/w']\n"
      "want = (100 * np.arange(6)[:, None] + np.arange(10)[None, :]).astype(np.float32)\n"
      "assert w.shape == (6, 10) and w.dtype == np.float32, (w.shape, w.dtype)\n"
      "assert (w[()] == want).all(), w[()]\n"
      "assert int(w.attrs['crc32']) == zlib.crc32(want.astype('<f4').tobytes())\n"
      "print('ranges OK')\n";
  const std::string py = dir_ + "/check.py";
  {
    FILE* f = std::fopen(py.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(script.c_str(), f);
    std::fclose(f);
  }
  EXPECT_EQ(run_command("/usr/bin/python3 " + py + " " + path, &out), 0) << out;
  EXPECT_TRUE(contains(out, "ranges OK")) << out;
}
