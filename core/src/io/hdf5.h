#pragma once
// Internal helpers shared by the checkpoint writer, reader and directory code.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xomni/core/io/checkpoint.h"

namespace xomni::ckpt {

// Attribute and group names of the format (see checkpoint.h).
inline constexpr const char* kAttrVersion = "xomni_format_version";
inline constexpr const char* kAttrStep = "step";
inline constexpr const char* kAttrComplete = "xomni_complete";
inline constexpr const char* kAttrDtype = "dtype";
inline constexpr const char* kAttrCrc = "crc32";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kRng = "rng";
inline constexpr const char* kDataPosition = "data_position";
inline constexpr const char* kMeta = "meta";

// Owns an HDF5 identifier and closes it with the matching H5?close.
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Id() { reset(); }
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes now and reports failure (the destructor ignores it).
  herr_t close() {
    herr_t r = id_ >= 0 && closer_ ? closer_(id_) : 0;
    id_ = H5I_INVALID_HID;
    return r;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// A file open for writing. HDF5 1.10 cannot survive a flush that fails (a full disk): the file can
// no longer be closed, its close frees it yet keeps its identifier, and the library crashes
// closing it again at exit after pages of diagnostics. So a writer reserves the file's space
// (reserve_space()) before anything flushes, and an error path's close (abandon(), the
// destructor) first points the file's descriptors at an anonymous in-memory file, where HDF5's
// last writes cannot fail and are thrown away with it.
class WritableFile {
 public:
  WritableFile() = default;
  // Takes `id` (which h5_check has accepted) of the file just created or opened at `path`.
  WritableFile(hid_t id, const std::string& path);
  ~WritableFile() { abandon(); }
  WritableFile(WritableFile&&) noexcept = default;
  WritableFile& operator=(WritableFile&& o) noexcept {
    if (this != &o) {
      abandon();
      id_ = std::move(o.id_);
      path_ = std::move(o.path_);
      device_ = o.device_;
      inode_ = o.inode_;
    }
    return *this;
  }
  hid_t get() const { return id_.get(); }
  // Makes the file system allocate every byte HDF5 has placed in the file so far (and at least
  // `at_least` bytes), so that writing them out cannot run out of space. "" when done (or when the
  // file system cannot reserve space: then nothing changes), else the system's reason ("no space
  // left on device ..."). The file may grow past HDF5's end; HDF5 trims it when a process that
  // opened it with the default driver closes it.
  std::string reserve_space(uint64_t at_least = 0) const;
  // Flushes and closes; throws Error(what + the reason) after abandoning the file on failure.
  void close(const std::string& what);
  // Closes without writing anything more to the file (its pending writes are discarded).
  void abandon() noexcept;

 private:
  Id id_;
  std::string path_;
  uint64_t device_ = 0, inode_ = 0;  // the file's identity (its path may be gone by the close)
};

// Points every descriptor this process has open on the file (device, inode) at an anonymous
// in-memory file (see WritableFile).
void redirect_descriptors_to_memory(uint64_t device, uint64_t inode) noexcept;

// Turns off HDF5's automatic error printing, for good: every HDF5 error this code meets becomes
// one Error message (h5_check). Left on, HDF5 prints its whole error stack as it happens, and
// after it has read a damaged file it also prints "HDF5: infinite loop closing library" and a
// line of package names when it closes at exit (or at MPI_Finalize): it prints that only while
// automatic printing is on. Construct one before the first HDF5 call of an entry point.
class QuietErrors {
 public:
  QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;
};

// What went wrong, from HDF5's current error stack (which it clears): the system's reason when a
// file driver quotes one ("no space left on device", with what to do), else the innermost
// descriptions ("" when the stack is empty).
std::string h5_error_text();
// strerror(errnum) in lower case, with what to do when the cure is the user's (a full disk).
std::string system_error_text(int errnum);
// Throws Error(what + ": " + h5_error_text()) when `status` < 0; returns status.
hid_t h5_check(hid_t status, const std::string& what);

// The little-endian file type and the native memory type of a dtype (bf16/f16 as uint16).
hid_t file_type(DType t);
hid_t memory_type(DType t);

// Writes/reads small attributes on `obj`.
void write_attr_i64(hid_t obj, const char* name, int64_t value, const std::string& where);
void write_attr_u32(hid_t obj, const char* name, uint32_t value, const std::string& where);
void write_attr_str(hid_t obj, const char* name, const std::string& value,
                    const std::string& where);
bool has_attr(hid_t obj, const char* name);
int64_t read_attr_i64(hid_t obj, const char* name, const std::string& where);
uint32_t read_attr_u32(hid_t obj, const char* name, const std::string& where);
// Strings are written fixed-length; a variable-length one (format version 1) is read only where
// `allow_variable`.
std::string read_attr_str(hid_t obj, const char* name, const std::string& where,
                          bool allow_variable);

// A scalar fixed-length UTF-8 string dataset (no NUL inside).
void write_string_dataset(hid_t file, const std::string& path, const std::string& value,
                          const std::string& where);
std::string read_string_dataset(hid_t dset, const std::string& where, bool allow_variable);
bool is_string_dataset(hid_t dset);

// CRC-32 of a dataset's raw little-endian bytes (strings: their UTF-8 bytes), read in blocks.
uint32_t dataset_crc(hid_t dset, const std::string& where, bool allow_variable);
// Every dataset path in the file (without the leading '/'), sorted.
std::vector<std::string> dataset_paths(hid_t file);

// Selects in `space` (a dataset's dataspace) elements [begin, end) of the row-major flattening of
// the box at `box_offset` with shape `box_shape`, as one union of hyperslabs (none when empty).
// HDF5 visits any selection in row-major order, which is the range's flat order.
void select_box_range(hid_t space, const Shape& box_offset, const Shape& box_shape, int64_t begin,
                      int64_t end, const std::string& what);

// Copies the elements of `t` (any strides) into contiguous `dst`, or contiguous `src` into `t`.
void gather_bytes(const Tensor& t, void* dst);
void scatter_bytes(const void* src, const Tensor& t);

// Throws unless `name` is a valid tensor path ("a/b/c", no empty or "."/".." parts, first part
// not a reserved name).
void check_tensor_name(const std::string& name, const std::string& file);
// Throws unless `name` is one non-empty path component.
void check_key(const std::string& name, const char* kind, const std::string& file);

// fsync of a file or a directory; throws naming it on failure.
void fsync_path(const std::string& path, bool directory);

}  // namespace xomni::ckpt
