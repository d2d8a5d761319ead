#pragma once
// HDF5 checkpoints. One file per checkpoint, `<dir>/ckpt-<step, 8 digits>.h5`, readable with h5py:
//   /<tensor name>          every tensor at its global shape (e.g. /model/embed.weight,
//                           /optimizer/embed.weight.exp_avg); attributes "dtype" (xomni dtype name)
//                           and "crc32"; f32/f64/i32/i64/u8 as little-endian HDF5 types, bf16/f16
//                           as uint16 (the raw bits) with dtype "bf16"/"f16".
//   /config                 the job's config text (UTF-8; every string in the file is a
//                           fixed-length HDF5 string, NUL-padded)
//   /rng/<name>             uint64[2] = {seed, offset}
//   /data_position/<name>   int64[n]
//   /meta/<key>             free-form UTF-8 strings
//   root attributes         xomni_format_version, step, xomni_complete (written last)
// Every dataset carries "crc32": CRC-32 (zlib's) over its raw little-endian bytes in C order (the
// UTF-8 bytes for strings), so a damaged file is detected on load.
//
// Writes are atomic: data go to `<final>.tmp`, which commit() checksums, marks complete, fsyncs
// and renames; the directory is fsynced too. Tensors are written as hyperslabs of their global
// shape (create_tensor + write_slice), so that under MPI every rank writes its own slice. A rank
// that owns only a contiguous run of a box's row-major flattening (a ZeRO-1 shard of its
// tensor-parallel shard, which may start and end mid-row) writes it with write_box_range: one
// collective write of a union of at most 2 * ndim - 1 hyperslabs; read_box_range reads one back.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "xomni/core/tensor/dtype.h"
#include "xomni/core/tensor/shape.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni {

// The format this build writes; files with a newer version are refused.
// Version 2 writes every string (dtype attributes, config, metadata) fixed-length; version 1
// files, with variable-length strings, are still read.
inline constexpr int64_t kCheckpointFormatVersion = 2;

struct RngState {
  uint64_t seed = 0;
  uint64_t offset = 0;
  bool operator==(const RngState&) const = default;
};

struct TensorInfo {
  Shape shape;  // global shape
  DType dtype = DType::f32;
};

// The process group of the parallel constructors, defined in xomni/core/io/checkpoint_group.h
// (which includes mpi.h), so that code without MPI need not see mpi.h.
class CheckpointGroup;

class CheckpointWriter {
 public:
  // One process, HDF5's default driver; MPI need not be initialised. Creates `dir` if missing
  // and `<dir>/ckpt-<step>.h5.tmp` (replacing a stale one).
  CheckpointWriter(const std::string& dir, int64_t step);
  // Every rank of `group` constructs one with the same arguments; `group` must outlive it. The
  // file is opened with MPI-IO and every call below is collective (same names, shapes and
  // metadata on every rank; write_slice with each rank's own piece, an empty one where a rank has
  // none).
  CheckpointWriter(const std::string& dir, int64_t step, CheckpointGroup& group);
  // Without a successful commit() the temporary file is removed.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  const std::string& path() const;       // the final name
  const std::string& temp_path() const;  // where the data go until commit()

  // Declares a tensor at its global shape. `name` is a '/'-separated path such as
  // "model/layers.0.attn.q.weight"; its first component must not be config, rng, data_position
  // or meta.
  void create_tensor(const std::string& name, const Shape& global_shape, DType dtype);
  // Writes `piece` (any strides) at `offset` of the declared global tensor; its dtype must
  // match. The pieces written must cover the tensor exactly once by commit().
  void write_slice(const std::string& name, const Tensor& piece, const Shape& offset);
  // Writes elements [begin, begin + data.numel()) of the row-major flattening of the box at
  // `box_offset` with shape `box_shape` inside the declared global tensor. `data` is contiguous
  // (any shape; only its numel and element order matter). Collective under MPI like
  // write_slice; a rank with nothing to write passes an empty tensor. Counts toward coverage
  // like write_slice.
  void write_box_range(const std::string& name, const Tensor& data, const Shape& box_offset,
                       const Shape& box_shape, int64_t begin);
  // create_tensor(name, t.shape(), t.dtype()) + write_slice(name, t, zeros).
  void write_tensor(const std::string& name, const Tensor& t);

  // Metadata is kept in memory and written by commit(); setting a name again replaces its value.
  void set_config(const std::string& text);
  void set_rng_state(const std::string& name, RngState state);
  void set_data_position(const std::string& name, const std::vector<int64_t>& position);
  void set_metadata(const std::string& key, const std::string& value);

  // Checks coverage, writes the checksums and the completion marker, fsyncs, renames to path()
  // and fsyncs the directory. Returns path().
  std::string commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class CheckpointVerify {
  checksums,  // open() recomputes every dataset's CRC-32 (reads the whole file once)
  structure,  // only format version and completion marker; read_tensor still checks its CRC
};

class CheckpointReader {
 public:
  // Opens a committed checkpoint. Throws an Error naming the file when it is unreadable,
  // incomplete, damaged or of a newer format version.
  explicit CheckpointReader(const std::string& path,
                            CheckpointVerify verify = CheckpointVerify::checksums);
  // MPI-IO reads by every rank of `group` (collective open, independent reads); `group` must
  // outlive the reader.
  CheckpointReader(const std::string& path, CheckpointGroup& group,
                   CheckpointVerify verify = CheckpointVerify::checksums);
  ~CheckpointReader();
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  const std::string& path() const;
  int64_t step() const;
  int64_t format_version() const;

  std::vector<std::string> tensor_names() const;  // sorted, e.g. "model/w"
  bool has_tensor(const std::string& name) const;
  TensorInfo tensor_info(const std::string& name) const;
  // The whole tensor in its stored dtype (its CRC-32 is checked).
  Tensor read_tensor(const std::string& name) const;
  // The hyperslab [offset, offset + shape) of the global tensor.
  Tensor read_slice(const std::string& name, const Shape& offset, const Shape& shape) const;
  // Elements [begin, end) of the row-major flattening of the box at `box_offset` with shape
  // `box_shape`, as a 1-D tensor of the stored dtype (the counterpart of write_box_range).
  Tensor read_box_range(const std::string& name, const Shape& box_offset, const Shape& box_shape,
                        int64_t begin, int64_t end) const;
  // Reads the whole tensor into `dst` (any strides), whose shape and dtype must match.
  void read_into(const std::string& name, const Tensor& dst) const;

  bool has_config() const;
  std::string config() const;
  std::vector<std::string> rng_names() const;
  RngState rng_state(const std::string& name) const;
  std::vector<std::string> data_position_names() const;
  std::vector<int64_t> data_position(const std::string& name) const;
  std::vector<std::string> metadata_keys() const;
  std::string metadata(const std::string& key) const;

  // Recomputes every dataset's CRC-32; throws naming the file and the first damaged dataset.
  void verify_checksums() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- directory management ----

struct CheckpointFile {
  std::string path;
  int64_t step = 0;
};

using CheckpointWarning = std::function<void(const std::string&)>;

// `<dir>/ckpt-<step, zero-padded to 8 digits>.h5`.
std::string checkpoint_path(const std::string& dir, int64_t step);
// Files named exactly like checkpoint_path(), oldest step first; .tmp files and every other name
// are ignored. A missing directory holds no checkpoints.
std::vector<CheckpointFile> list_checkpoints(const std::string& dir);
// Why `path` is not a usable checkpoint (opened with `verify`, by default full checksum
// verification), or "" if it is.
std::string checkpoint_problem(const std::string& path,
                               CheckpointVerify verify = CheckpointVerify::checksums);
// The newest checkpoint before step `before` that opens and verifies. Each newer one that does
// not is reported through `warn` (default: a line on stderr) with its path and the reason, and so
// is anything named like a checkpoint that is not a regular file (a directory, say).
std::optional<CheckpointFile> latest_valid_checkpoint(
    const std::string& dir, const CheckpointWarning& warn = nullptr,
    int64_t before = std::numeric_limits<int64_t>::max());
// Deletes the valid checkpoints older than the newest `keep_last` (>= 1) valid ones. A file that
// does not open as a complete checkpoint of the step in its name is never deleted and does not
// count toward keep_last (each is reported through `warn`), and neither is a file whose name
// list_checkpoints() would not list. Returns the removed paths, oldest first.
std::vector<std::string> prune_checkpoints(const std::string& dir, int keep_last,
                                           const CheckpointWarning& warn = nullptr);

// CRC-32 as zlib computes it (polynomial 0xEDB88320); pass the previous value to continue.
uint32_t crc32(const void* data, size_t nbytes, uint32_t crc = 0);

}  // namespace xomni
