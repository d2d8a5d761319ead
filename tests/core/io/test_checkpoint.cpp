// HDF5 checkpoints: bit-exact round trips of every dtype, metadata, hyperslab pieces, atomic
// writes, damage detection (truncation, flipped byte, missing marker), directory management,
// error messages, and an h5py read of the file. Every test runs in a fresh temporary directory in
// one plain process: MPI_Init is never called, so HDF5 must work without it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "check.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

class Checkpoint : public xomni::test::TempDirTest {};

// Deterministic bytes: every bit pattern (NaNs with payloads, subnormals, -0) must survive.
std::vector<uint8_t> pattern_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = uint8_t(s >> 56);
  }
  return out;
}

Tensor tensor_from_bytes(const Shape& shape, DType dtype, const std::vector<uint8_t>& bytes) {
  Tensor t = Tensor::empty(shape, dtype);
  EXPECT_EQ(bytes.size(), size_t(t.numel()) * dtype_size(dtype));
  if (!bytes.empty()) std::memcpy(t.raw_data(), bytes.data(), bytes.size());
  return t;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  EXPECT_TRUE(t.is_contiguous());
  std::vector<uint8_t> out(size_t(t.numel()) * dtype_size(t.dtype()));
  if (!out.empty()) std::memcpy(out.data(), t.raw_data(), out.size());
  return out;
}

using xomni::test::contains;

// A [6, 8] f32 tensor with value 100 * i + j.
Tensor grid_6x8() {
  std::vector<float> v;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 8; ++j) v.push_back(float(100 * i + j));
  return Tensor::from_vector<float>(v, {6, 8});
}

// Writes a small valid checkpoint at `step` holding model/w = grid_6x8() and returns its path.
std::string write_simple(const std::string& dir, int64_t step) {
  CheckpointWriter w(dir, step);
  w.write_tensor("model/w", grid_6x8());
  w.set_config("step = " + std::to_string(step));
  return w.commit();
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const std::vector<char>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), std::streamsize(data.size()));
}

// tests/ (this file is tests/core/io/test_checkpoint.cpp).
std::string source_dir() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path().string();
}

// Runs a shell command, returning its exit status and (via `out`) its stdout+stderr.
int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  out->clear();
  while (size_t n = fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// h5py is needed by the tests that check the file from Python; its absence is a failure.
void require_h5py() {
  std::string out;
  int rc = run_command("/usr/bin/python3 -c 'import h5py, numpy'", &out);
  ASSERT_EQ(rc, 0) << "h5py/numpy are not importable by /usr/bin/python3 (" << out
                   << "); install the Debian packages python3-h5py python3-numpy "
                      "(scripts/install_deps.sh lists them)";
}

}  // namespace

TEST(CheckpointCrc, MatchesZlibCheckValues) {
  const char* s = "123456789";
  EXPECT_EQ(crc32(s, 9), 0xCBF43926u);  // the standard CRC-32 check value
  EXPECT_EQ(crc32(s, 0), 0u);
  EXPECT_EQ(crc32(s + 4, 5, crc32(s, 4)), 0xCBF43926u);  // continuation
}

TEST(CheckpointNames, PathsAreZeroPaddedToEightDigits) {
  EXPECT_EQ(checkpoint_path("/x/run", 42), "/x/run/ckpt-00000042.h5");
  EXPECT_EQ(checkpoint_path("d", 123456789), "d/ckpt-123456789.h5");
}

TEST_F(Checkpoint, EveryDtypeRoundTripsBitExactIncludingStridedInputs) {
  const std::vector<DType> dtypes = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                     DType::i32, DType::i64, DType::u8};
  struct Expected {
    std::string name;
    Shape shape;
    DType dtype;
    std::vector<uint8_t> bytes;
  };
  std::vector<Expected> expected;
  std::string path;
  {
    CheckpointWriter w(dir_, 7);
    uint64_t seed = 1;
    for (DType dt : dtypes) {
      const size_t es = dtype_size(dt);
      const std::string tag = dtype_name(dt);
      // Contiguous [3, 5].
      std::vector<uint8_t> b = pattern_bytes(15 * es, seed++);
      w.write_tensor("model/" + tag + ".contiguous", tensor_from_bytes({3, 5}, dt, b));
      expected.push_back({"model/" + tag + ".contiguous", {3, 5}, dt, b});
      // Non-contiguous: view (i, j) -> base[1 + i + 6 j] of a 24-element buffer (transposed
      // strides with an offset).
      std::vector<uint8_t> base = pattern_bytes(24 * es, seed++);
      Tensor base_t = tensor_from_bytes({24}, dt, base);
      Tensor view = make_view(base_t, {3, 4}, {1, 6}, 1);
      ASSERT_FALSE(view.is_contiguous());
      std::vector<uint8_t> vb;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          const size_t k = size_t(1 + i + 6 * j);
          vb.insert(vb.end(), base.begin() + long(k * es), base.begin() + long((k + 1) * es));
        }
      w.write_tensor("optimizer/" + tag + ".strided", view);
      expected.push_back({"optimizer/" + tag + ".strided", {3, 4}, dt, vb});
      // 0-d and zero-size tensors.
      std::vector<uint8_t> sb = pattern_bytes(es, seed++);
      w.write_tensor("model/" + tag + ".scalar", tensor_from_bytes({}, dt, sb));
      expected.push_back({"model/" + tag + ".scalar", {}, dt, sb});
      w.write_tensor("model/" + tag + ".empty", Tensor::empty({0, 3}, dt));
      expected.push_back({"model/" + tag + ".empty", {0, 3}, dt, {}});
    }
    // Known bf16/f16 specials: NaN with payload, -0, infinity, smallest subnormal.
    const std::vector<bf16> b16 = {{0x7fc1}, {0x8000}, {0x7f80}, {0x0001}, {0x3f80}};
    w.write_tensor("model/bf16.specials", Tensor::from_vector<bf16>(b16, {5}));
    expected.push_back({"model/bf16.specials",
                        {5},
                        DType::bf16,
                        {0xc1, 0x7f, 0x00, 0x80, 0x80, 0x7f, 0x01, 0x00, 0x80, 0x3f}});
    const std::vector<f16> h16 = {{0x7e01}, {0x8000}, {0x7c00}, {0x0001}, {0x3c00}};
    w.write_tensor("model/f16.specials", Tensor::from_vector<f16>(h16, {5}));
    expected.push_back({"model/f16.specials",
                        {5},
                        DType::f16,
                        {0x01, 0x7e, 0x00, 0x80, 0x00, 0x7c, 0x01, 0x00, 0x00, 0x3c}});
    EXPECT_TRUE(fs::exists(w.temp_path()));
    EXPECT_FALSE(fs::exists(w.path()));
    path = w.commit();
  }
  EXPECT_EQ(path, dir_ + "/ckpt-00000007.h5");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  CheckpointReader r(path);
  EXPECT_EQ(r.step(), 7);
  EXPECT_EQ(r.format_version(), kCheckpointFormatVersion);
  std::vector<std::string> names;
  for (const Expected& e : expected) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(r.tensor_names(), names);
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.name);
    ASSERT_TRUE(r.has_tensor(e.name));
    TensorInfo info = r.tensor_info(e.name);
    EXPECT_EQ(info.shape, e.shape);
    EXPECT_EQ(info.dtype, e.dtype);
    Tensor t = r.read_tensor(e.name);
    EXPECT_EQ(t.shape(), e.shape);
    EXPECT_EQ(t.dtype(), e.dtype);
    EXPECT_EQ(bytes_of(t), e.bytes);
  }
  // read_into a non-contiguous destination: dst(i, j) lives at buffer[1 + i + 6 j].
  for (DType dt : dtypes) {
    const std::string name = std::string("optimizer/") + dtype_name(dt) + ".strided";
    const Expected& e = *std::find_if(expected.begin(), expected.end(),
                                      [&](const Expected& x) { return x.name == name; });
    const size_t es = dtype_size(dt);
    Tensor buffer = Tensor::zeros({24}, dt);
    r.read_into(name, make_view(buffer, {3, 4}, {1, 6}, 1));
    std::vector<uint8_t> got = bytes_of(buffer);
    for (size_t k = 0; k < 24; ++k) {
      const int64_t i = (int64_t(k) - 1) % 6, j = (int64_t(k) - 1) / 6;
      const bool in_view = k >= 1 && i < 3 && j < 4;
      for (size_t b = 0; b < es; ++b) {
        const uint8_t want = in_view ? e.bytes[size_t(i * 4 + j) * es + b] : 0;
        ASSERT_EQ(got[k * es + b], want) << dtype_name(dt) << " buffer element " << k;
      }
    }
  }
}

TEST_F(Checkpoint, ConfigRngDataPositionAndMetadataRoundTrip) {
  const std::string config = "[model]\nname = \"qwen2-tiny\"  # café\nlayers = 2\n\n[train]\n";
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  const std::vector<int64_t> pos = {3, -1, std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::min()};
  {
    CheckpointWriter w(dir_, 12345678);
    w.write_tensor("model/w", grid_6x8());
    w.set_config(config);
    w.set_rng_state("torch_like", RngState{42, big});
    w.set_rng_state("dropout", RngState{big - 1, 0});
    w.set_data_position("train", pos);
    w.set_data_position("empty", {});
    w.set_metadata("git", "abc123");
    w.set_metadata("note", "");
    w.commit();
  }
  CheckpointReader r(checkpoint_path(dir_, 12345678));
  EXPECT_EQ(r.step(), 12345678);
  ASSERT_TRUE(r.has_config());
  EXPECT_EQ(r.config(), config);
  EXPECT_EQ(r.rng_names(), (std::vector<std::string>{"dropout", "torch_like"}));
  EXPECT_EQ(r.rng_state("torch_like"), (RngState{42, big}));
  EXPECT_EQ(r.rng_state("dropout"), (RngState{big - 1, 0}));
  EXPECT_EQ(r.data_position_names(), (std::vector<std::string>{"empty", "train"}));
  EXPECT_EQ(r.data_position("train"), pos);
  EXPECT_EQ(r.data_position("empty"), std::vector<int64_t>{});
  EXPECT_EQ(r.metadata_keys(), (std::vector<std::string>{"git", "note"}));
  EXPECT_EQ(r.metadata("git"), "abc123");
  EXPECT_EQ(r.metadata("note"), "");
  EXPECT_EQ(r.tensor_names(), std::vector<std::string>{"model/w"});
}

TEST_F(Checkpoint, FourHyperslabPiecesAssembleAndReadBackAsOtherSlices) {
  const Tensor full = grid_6x8();
  {
    CheckpointWriter w(dir_, 3);
    w.create_tensor("model/w", {6, 8}, DType::f32);
    // A 2 x 2 grid of [3, 4] blocks, written out of order; one block from a transposed view.
    auto block = [&](int64_t r0, int64_t c0) {
      std::vector<float> v;
      for (int64_t i = r0; i < r0 + 3; ++i)
        for (int64_t j = c0; j < c0 + 4; ++j) v.push_back(float(100 * i + j));
      return Tensor::from_vector<float>(v, {3, 4});
    };
    w.write_slice("model/w", block(3, 4), {3, 4});
    w.write_slice("model/w", block(0, 0), {0, 0});
    {
      // block(0, 4) as the transpose view of its [4, 3] transpose.
      std::vector<float> tv;
      for (int64_t j = 4; j < 8; ++j)
        for (int64_t i = 0; i < 3; ++i) tv.push_back(float(100 * i + j));
      Tensor t = Tensor::from_vector<float>(tv, {4, 3});
      Tensor view = make_view(t, {3, 4}, {1, 3}, 0);
      ASSERT_FALSE(view.is_contiguous());
      w.write_slice("model/w", view, {0, 4});
    }
    w.write_slice("model/w", block(3, 0), {3, 0});
    w.commit();
  }
  CheckpointReader r(checkpoint_path(dir_, 3));
  EXPECT_EQ(r.read_tensor("model/w").to_vector<float>(), full.to_vector<float>());
  // Column strips [6, 2], and an interior window [4, 5] at (1, 2).
  for (int64_t c = 0; c < 8; c += 2) {
    std::vector<float> want;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = c; j < c + 2; ++j) want.push_back(float(100 * i + j));
    Tensor s = r.read_slice("model/w", {0, c}, {6, 2});
    EXPECT_EQ(s.shape(), (Shape{6, 2}));
    EXPECT_EQ(s.to_vector<float>(), want) << "strip at column " << c;
  }
  std::vector<float> want;
  for (int64_t i = 1; i < 5; ++i)
    for (int64_t j = 2; j < 7; ++j) want.push_back(float(100 * i + j));
  EXPECT_EQ(r.read_slice("model/w", {1, 2}, {4, 5}).to_vector<float>(), want);
  EXPECT_TRUE(contains(error_message([&] {
                         r.read_slice("model/w", {4, 0}, {3, 8});
                       }),
                       "out of bounds"));
}

TEST_F(Checkpoint, IncompleteCoverageIsRefusedAndLeavesNoFile) {
  std::string msg;
  {
    CheckpointWriter w(dir_, 1);
    w.create_tensor("model/w", {6, 8}, DType::f32);
    w.write_slice("model/w", Tensor::zeros({3, 8}), {0, 0});
    msg = error_message([&] { w.commit(); });
  }
  EXPECT_TRUE(contains(msg, "model/w")) << msg;
  EXPECT_TRUE(contains(msg, "48 elements but the pieces written hold 24")) << msg;
  EXPECT_TRUE(fs::is_empty(dir_)) << "neither the .tmp nor a final file may remain";
}

TEST_F(Checkpoint, TruncatedNewestFallsBackToPreviousWithWarning) {
  write_simple(dir_, 10);
  const std::string newest = write_simple(dir_, 20);
  fs::resize_file(newest, fs::file_size(newest) / 2);
  std::vector<std::string> warnings;
  auto got = latest_valid_checkpoint(dir_, [&](const std::string& m) { warnings.push_back(m); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->step, 10);
  EXPECT_EQ(got->path, checkpoint_path(dir_, 10));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], newest)) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], "unreadable")) << warnings[0];
  EXPECT_FALSE(checkpoint_problem(newest).empty());
  EXPECT_EQ(checkpoint_problem(checkpoint_path(dir_, 10)), "");
}

TEST_F(Checkpoint, FlippedDataByteIsCaughtByChecksum) {
  write_simple(dir_, 1);
  // A tensor whose raw bytes are easy to find in the file.
  std::vector<float> v(256);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1234.5f + float(i);
  std::string path;
  {
    CheckpointWriter w(dir_, 2);
    w.write_tensor("model/w", grid_6x8());
    w.write_tensor("optimizer/m", Tensor::from_vector<float>(v, {16, 16}));
    path = w.commit();
  }
  std::vector<char> bytes = read_file(path);
  const char* needle = reinterpret_cast<const char*>(v.data());
  auto it = std::search(bytes.begin(), bytes.end(), needle, needle + v.size() * sizeof(float));
  ASSERT_NE(it, bytes.end()) << "the tensor's bytes are stored contiguously";
  it[517] ^= 0x10;  // inside element 129
  write_file(path, bytes);

  const std::string msg = error_message([&] { CheckpointReader r(path); });
  EXPECT_TRUE(contains(msg, path)) << msg;
  EXPECT_TRUE(contains(msg, "'optimizer/m' is damaged")) << msg;
  // Structure-only open succeeds, but the whole-tensor read still checks the CRC.
  CheckpointReader quick(path, CheckpointVerify::structure);
  EXPECT_EQ(quick.read_tensor("model/w").to_vector<float>(), grid_6x8().to_vector<float>());
  EXPECT_TRUE(contains(error_message([&] { quick.read_tensor("optimizer/m"); }), "damaged"));
  std::vector<std::string> warnings;
  auto got = latest_valid_checkpoint(dir_, [&](const std::string& m) { warnings.push_back(m); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->step, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], path) && contains(warnings[0], "damaged")) << warnings[0];
}

TEST_F(Checkpoint, TmpFromCrashIsIgnoredAndUnfinishedFileIsIncomplete) {
  write_simple(dir_, 1);
  // A writer process that dies before commit() leaves ckpt-00000002.h5.tmp behind.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      CheckpointWriter* w = new CheckpointWriter(dir_, 2);  // never destroyed: a crash
      w->write_tensor("model/w", grid_6x8());
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string tmp = checkpoint_path(dir_, 2) + ".tmp";
  ASSERT_TRUE(fs::exists(tmp));

  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };
  auto files = list_checkpoints(dir_);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].step, 1);
  auto got = latest_valid_checkpoint(dir_, warn);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->step, 1);
  EXPECT_TRUE(warnings.empty());

  // The same unfinished file under a final name has no completion marker.
  fs::copy_file(tmp, checkpoint_path(dir_, 3));
  got = latest_valid_checkpoint(dir_, warn);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->step, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], checkpoint_path(dir_, 3)) &&
              contains(warnings[0], "incomplete"))
      << warnings[0];

  // A writer destroyed without commit() (an exception unwinding) removes its .tmp.
  {
    CheckpointWriter w(dir_, 4);
    w.write_tensor("model/w", grid_6x8());
    EXPECT_TRUE(fs::exists(w.temp_path()));
  }
  EXPECT_FALSE(fs::exists(checkpoint_path(dir_, 4) + ".tmp"));
  EXPECT_FALSE(fs::exists(checkpoint_path(dir_, 4)));
}

TEST_F(Checkpoint, KeepLastKPrunesOnlyOwnFilesAndKeepsNewestValid) {
  for (int64_t s = 1; s <= 5; ++s) write_simple(dir_, s);
  const std::vector<std::string> foreign = {
      "notes.txt",           "ckpt-7.h5", "ckpt-000000001.h5", "model.h5", "ckpt-00000009.h5.tmp",
      "ckpt-00000001.h5.bak"};
  for (const std::string& f : foreign) write_file(dir_ + "/" + f, {'x'});
  EXPECT_EQ(list_checkpoints(dir_).size(), 5u);

  std::vector<std::string> removed = prune_checkpoints(dir_, 2, [](const std::string&) {});
  EXPECT_EQ(removed, (std::vector<std::string>{checkpoint_path(dir_, 1), checkpoint_path(dir_, 2),
                                               checkpoint_path(dir_, 3)}));
  for (const std::string& f : foreign) EXPECT_TRUE(fs::exists(dir_ + "/" + f)) << f;
  std::vector<int64_t> steps;
  for (const CheckpointFile& f : list_checkpoints(dir_)) steps.push_back(f.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{4, 5}));

  // Newest two damaged: they neither count toward keep-last-1 nor go; of the valid ones (4, 5)
  // only step 5 stays.
  write_simple(dir_, 6);
  write_simple(dir_, 7);
  for (int64_t s : {6, 7}) fs::resize_file(checkpoint_path(dir_, s), 100);
  std::vector<std::string> warnings;
  removed = prune_checkpoints(dir_, 1, [&](const std::string& m) { warnings.push_back(m); });
  EXPECT_EQ(removed, (std::vector<std::string>{checkpoint_path(dir_, 4)}));
  EXPECT_EQ(warnings.size(), 2u);
  steps.clear();
  for (const CheckpointFile& f : list_checkpoints(dir_)) steps.push_back(f.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 6, 7}));

  // No valid checkpoint at all: nothing is deleted.
  fs::resize_file(checkpoint_path(dir_, 5), 100);
  warnings.clear();
  removed = prune_checkpoints(dir_, 1, [&](const std::string& m) { warnings.push_back(m); });
  EXPECT_TRUE(removed.empty());
  EXPECT_EQ(list_checkpoints(dir_).size(), 3u);
  EXPECT_TRUE(contains(warnings.back(), "deleting nothing"));
  EXPECT_TRUE(contains(error_message([&] { prune_checkpoints(dir_, 0); }), "keep_last"));
  EXPECT_TRUE(list_checkpoints(dir_ + "/missing").empty());
  EXPECT_FALSE(latest_valid_checkpoint(dir_ + "/missing").has_value());
}

// Files named like newer checkpoints that are not checkpoints (an audit planted ckpt-100, -200
// and -300 beside valid 10, 15, 20) must not push the valid ones out: keep-3 after step 30
// keeps 15, 20, 30 and deletes only 10; the junk stays where it is.
TEST_F(Checkpoint, UnreadableFilesNeverCountTowardKeepNorGetDeleted) {
  for (int64_t s : {10, 15, 20}) write_simple(dir_, s);
  for (int64_t s : {100, 200, 300}) write_file(checkpoint_path(dir_, s), {'j', 'u', 'n', 'k'});
  write_simple(dir_, 30);
  std::vector<std::string> warnings;
  const std::vector<std::string> removed =
      prune_checkpoints(dir_, 3, [&](const std::string& m) { warnings.push_back(m); });
  EXPECT_EQ(removed, (std::vector<std::string>{checkpoint_path(dir_, 10)}));
  EXPECT_EQ(warnings.size(), 3u);
  std::vector<int64_t> steps;
  for (const CheckpointFile& f : list_checkpoints(dir_)) steps.push_back(f.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{15, 20, 30, 100, 200, 300}));
}

TEST_F(Checkpoint, ErrorMessagesNameFileAndTensor) {
  const std::string path = write_simple(dir_, 5);
  CheckpointReader r(path);
  std::string msg = error_message([&] { r.read_tensor("model/missing"); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "no tensor 'model/missing'")) << msg;
  msg = error_message([&] { r.read_into("model/w", Tensor::zeros({8, 6})); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "'model/w'") &&
              contains(msg, "shape mismatch: the checkpoint has [6, 8], the destination [8, 6]"))
      << msg;
  msg = error_message([&] { r.read_into("model/w", Tensor::zeros({6, 8}, DType::f64)); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "'model/w'") &&
              contains(msg, "dtype mismatch: the checkpoint has f32, the destination f64"))
      << msg;
  msg = error_message([&] { r.rng_state("nope"); });
  EXPECT_TRUE(contains(msg, "no RNG state 'nope'")) << msg;
  msg = error_message([&] { r.metadata("nope"); });
  EXPECT_TRUE(contains(msg, "no metadata 'nope'")) << msg;

  // Unreadable and missing files.
  const std::string garbage = dir_ + "/garbage.h5";
  write_file(garbage, std::vector<char>(4096, 'g'));
  msg = error_message([&] { CheckpointReader g(garbage); });
  EXPECT_TRUE(contains(msg, garbage) && contains(msg, "unreadable")) << msg;
  msg = error_message([&] { CheckpointReader g(dir_ + "/none.h5"); });
  EXPECT_TRUE(contains(msg, dir_ + "/none.h5") && contains(msg, "does not exist")) << msg;

  // Writer-side misuse.
  CheckpointWriter w(dir_, 6);
  w.create_tensor("model/a", {2, 3}, DType::bf16);
  msg = error_message([&] { w.write_slice("model/a", Tensor::zeros({2, 3}), {0, 0}); });
  EXPECT_TRUE(contains(msg, "'model/a' was created as bf16 but the piece written is f32")) << msg;
  msg = error_message([&] {
    w.write_slice("model/a", Tensor::zeros({2, 2}, DType::bf16), {0, 2});
  });
  EXPECT_TRUE(contains(msg, "'model/a'") && contains(msg, "does not fit (dim 1)")) << msg;
  msg = error_message([&] { w.create_tensor("model/a", {2, 3}, DType::bf16); });
  EXPECT_TRUE(contains(msg, "'model/a' was already created")) << msg;
  msg = error_message([&] { w.write_slice("model/b", Tensor::zeros({1}), {0}); });
  EXPECT_TRUE(contains(msg, "'model/b', which was not created")) << msg;
  msg = error_message([&] { w.write_tensor("rng/x", Tensor::zeros({1})); });
  EXPECT_TRUE(contains(msg, "reserved")) << msg;
  msg = error_message([&] { w.write_tensor("model//x", Tensor::zeros({1})); });
  EXPECT_TRUE(contains(msg, "invalid tensor name 'model//x'")) << msg;
}

TEST_F(Checkpoint, NewerFormatVersionIsRefused) {
  require_h5py();
  const std::string path = write_simple(dir_, 8);
  std::string out;
  const std::string script = source_dir() + "/support/h5py_check.py";
  const std::string newer = std::to_string(kCheckpointFormatVersion + 1);
  ASSERT_EQ(run_command("/usr/bin/python3 " + script + " set-version " + path + " " + newer, &out),
            0)
      << out;
  const std::string msg = error_message([&] { CheckpointReader r(path); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "format version " + newer + ", newer")) << msg;
}

// A checkpoint of format version 1 (variable-length strings; written by the version-1 writer, kept
// in tests/fixtures/checkpoints) still reads and verifies; a variable-length string in a file of a
// later version is refused as damaged (HDF5's reader of such strings is not safe on damaged files).
TEST_F(Checkpoint, FormatVersion1StillReadsAndLaterVersionsHoldNoVariableStrings) {
  const std::string v1 = source_dir() + "/fixtures/checkpoints/format1.h5";
  ASSERT_TRUE(checkpoint_problem(v1).empty()) << checkpoint_problem(v1);
  const CheckpointReader r(v1);
  EXPECT_EQ(r.format_version(), 1);
  EXPECT_EQ(r.step(), 7);
  EXPECT_EQ(r.config(), "[train]\nsteps = 7\n");
  EXPECT_EQ(r.metadata("stage"), "lm");
  EXPECT_EQ(r.read_tensor("model/w").to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r.tensor_info("model/w").dtype, DType::f32);
  // The same file claiming version 2: its variable-length strings are refused.
  require_h5py();
  const std::string copy = dir_ + "/ckpt-00000007.h5";
  std::filesystem::create_directories(dir_);
  std::filesystem::copy_file(v1, copy, std::filesystem::copy_options::overwrite_existing);
  std::string out;
  const std::string script = source_dir() + "/support/h5py_check.py";
  ASSERT_EQ(run_command("/usr/bin/python3 " + script + " set-version " + copy + " 2", &out), 0)
      << out;
  const std::string msg = checkpoint_problem(copy);
  EXPECT_TRUE(contains(msg,
                       "a variable-length string, which this checkpoint's format version "
                       "does not hold"))
      << msg;
}

TEST_F(Checkpoint, H5pyReadsShapesValuesDtypeAttributeAndChecksums) {
  require_h5py();
  std::string path;
  {
    CheckpointWriter w(dir_, 9);
    w.write_tensor("model/w", grid_6x8());
    // bf16 bits of 1.0, -2.0, 0.5, 3.140625, -0.0, 65280.
    const std::vector<bf16> e = {{0x3f80}, {0xc000}, {0x3f00}, {0x4049}, {0x8000}, {0x477f}};
    w.write_tensor("model/embed.weight", Tensor::from_vector<bf16>(e, {2, 3}));
    w.write_tensor("optimizer/count", Tensor::from_vector<int64_t>({-5, 1LL << 40}, {2}));
    w.set_config("lr = 0.001\n");
    w.set_rng_state("main", RngState{7, 99});
    path = w.commit();
  }
  std::string out;
  const std::string script = source_dir() + "/support/h5py_check.py";
  const int rc = run_command("/usr/bin/python3 " + script + " check " + path, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "h5py check OK")) << out;
}
