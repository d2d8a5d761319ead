// CheckpointWriter: tensors as hyperslabs of their global shape into `<final>.tmp` (MPI-IO when
// a process group is given), then one process finishes the file serially:
// metadata, dtype attributes, per-dataset CRC-32, the completion marker, fsync and rename.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

#include "io/checkpoint_box_range.h"
#include "io/hdf5.h"
#include "xomni/core/io/checkpoint_group.h"

namespace xomni {

using ckpt::h5_check;
using ckpt::Id;

struct CheckpointWriter::Impl {
  std::string dir, path, tmp;
  int64_t step = 0;
  CheckpointGroup* group = nullptr;  // null: one process, HDF5's default driver
  int rank = 0;
  ckpt::WritableFile file;
  struct Entry {
    Shape shape;
    DType dtype = DType::f32;
    int64_t written = 0;  // elements written by this process
  };
  std::map<std::string, Entry> tensors;
  std::optional<std::string> config;
  std::map<std::string, RngState> rng;
  std::map<std::string, std::vector<int64_t>> positions;
  std::map<std::string, std::string> meta;
  bool committed = false;
  // Where the tensors' data ends in the file, and how many datasets there are: what
  // reserve_space() must cover where HDF5 cannot say (under MPI-IO).
  uint64_t data_end = 0;
  int64_t datasets = 0;

  std::string where() const { return "checkpoint " + tmp; }
  // The declared tensor `name` after the checks every write makes (`op` names the caller).
  Entry& entry_for_write(const std::string& name, const Tensor& data, const char* op);
  void write_selection(hid_t dset, hid_t fspace, const Tensor& data, DType dtype, bool scalar,
                       const std::string& what);
  void open(const std::string& d, int64_t s, CheckpointGroup* g);
  void create_file();
  // Rank 0 reserves the space HDF5 has laid out so far (see WritableFile); every rank throws when
  // it cannot, before anything that could fail half way (a flush, a collective data write) runs.
  void reserve_space(const std::string& what);
  void finish_serially();
  // An unfinished write's end: the file closed with nothing more written, the temporary removed.
  void discard() noexcept {
    file.abandon();
    if (rank == 0) std::remove(tmp.c_str());
  }
};

void CheckpointWriter::Impl::open(const std::string& d, int64_t s, CheckpointGroup* g) {
  ckpt::QuietErrors quiet;
  XOMNI_CHECK(s >= 0, "CheckpointWriter: step must be >= 0, got ", s);
  dir = d;
  step = s;
  path = checkpoint_path(dir, step);
  tmp = path + ".tmp";
  group = g;
  if (group) rank = group->rank();
  std::string err;
  if (rank == 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) err = "checkpoint: cannot create directory " + dir + ": " + ec.message();
  }
  if (group) {  // every rank learns whether rank 0 could create the directory
    int failed = err.empty() ? 0 : 1;
    group->broadcast(&failed, sizeof failed, 0);
    if (failed && err.empty()) err = "checkpoint: rank 0 could not create directory " + dir;
  }
  if (!err.empty()) throw Error(err);
  try {
    create_file();
  } catch (...) {
    discard();
    throw;
  }
}

void CheckpointWriter::Impl::create_file() {
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // Format of HDF5 1.8+ (checksummed metadata); readable by h5py and HDF5 >= 1.10.
  h5_check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V110), where());
  if (group) h5_check(H5Pset_fapl_mpio(fapl.get(), group->mpi_comm(), MPI_INFO_NULL), where());
  file = ckpt::WritableFile(h5_check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                                     "checkpoint: cannot create " + tmp),
                            tmp);
  // Version and step first (a file left by a crash then reads as incomplete, not foreign);
  // the completion marker comes last, in finish_serially().
  ckpt::write_attr_i64(file.get(), ckpt::kAttrVersion, kCheckpointFormatVersion, where());
  ckpt::write_attr_i64(file.get(), ckpt::kAttrStep, step, where());
  reserve_space(where() + ": cannot write");
  h5_check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), where() + ": flush failed");
}

void CheckpointWriter::Impl::reserve_space(const std::string& what) {
  // Metadata (object headers, links, heaps) comes on top of the data: about 300 bytes a dataset
  // (h5stat of a checkpoint), so this bound is generous.
  const uint64_t metadata = 16 * 1024 + uint64_t(datasets) * 1024;
  std::string why = rank == 0 ? file.reserve_space(data_end + metadata) : std::string();
  if (group) {
    int len = int(why.size());
    group->broadcast(&len, sizeof len, 0);
    why.resize(size_t(len));
    if (len > 0) group->broadcast(why.data(), len, 0);
  }
  if (!why.empty()) throw Error(what + ": " + why);
}

CheckpointWriter::CheckpointWriter(const std::string& dir, int64_t step)
    : impl_(std::make_unique<Impl>()) {
  impl_->open(dir, step, nullptr);
}

CheckpointWriter::CheckpointWriter(const std::string& dir, int64_t step, CheckpointGroup& group)
    : impl_(std::make_unique<Impl>()) {
  impl_->open(dir, step, &group);
}

CheckpointWriter::~CheckpointWriter() {
  if (!impl_ || impl_->committed) return;
  impl_->discard();
}

const std::string& CheckpointWriter::path() const {
  return impl_->path;
}
const std::string& CheckpointWriter::temp_path() const {
  return impl_->tmp;
}

void CheckpointWriter::create_tensor(const std::string& name, const Shape& global_shape,
                                     DType dtype) {
  ckpt::QuietErrors quiet;
  Impl& m = *impl_;
  XOMNI_CHECK(!m.committed, "checkpoint ", m.path, ": create_tensor('", name, "') after commit()");
  ckpt::check_tensor_name(name, m.tmp);
  XOMNI_CHECK(!m.tensors.count(name), "checkpoint ", m.tmp, ": tensor '", name,
              "' was already created");
  for (int64_t d : global_shape)
    XOMNI_CHECK(d >= 0, "checkpoint ", m.tmp, ": tensor '", name, "' has a negative dimension in ",
                shape_str(global_shape));
  const std::string what = "checkpoint " + m.tmp + ": cannot create tensor '" + name + "'";
  std::vector<hsize_t> dims(global_shape.begin(), global_shape.end());
  Id space(global_shape.empty() ? H5Screate(H5S_SCALAR)
                                : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
           H5Sclose);
  h5_check(space.get(), what);
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  // Contiguous storage allocated at once and never pre-filled: what collective writes need.
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  Id dset(h5_check(H5Dcreate2(m.file.get(), name.c_str(), ckpt::file_type(dtype), space.get(),
                              lcpl.get(), dcpl.get(), H5P_DEFAULT),
                   what),
          H5Dclose);
  const haddr_t offset = H5Dget_offset(dset.get());
  if (offset != HADDR_UNDEF)
    m.data_end = std::max<uint64_t>(m.data_end, offset + H5Dget_storage_size(dset.get()));
  ++m.datasets;
  h5_check(dset.close(), what);
  // The dataset's space is allocated now: make sure it exists on disk before any data goes in.
  m.reserve_space(what);
  m.tensors[name] = Impl::Entry{global_shape, dtype, 0};
}

CheckpointWriter::Impl::Entry& CheckpointWriter::Impl::entry_for_write(const std::string& name,
                                                                       const Tensor& data,
                                                                       const char* op) {
  XOMNI_CHECK(!committed, "checkpoint ", path, ": ", op, "('", name, "') after commit()");
  auto it = tensors.find(name);
  XOMNI_CHECK(it != tensors.end(), "checkpoint ", tmp, ": ", op, " of tensor '", name,
              "', which was not created (call create_tensor first)");
  Entry& e = it->second;
  XOMNI_CHECK(data.device().is_cpu(), "checkpoint ", tmp, ": tensor '", name,
              "': only CPU tensors can be written, got ", data.device().str());
  XOMNI_CHECK(data.dtype() == e.dtype, "checkpoint ", tmp, ": tensor '", name, "' was created as ",
              dtype_name(e.dtype), " but the piece written is ", dtype_name(data.dtype()));
  return e;
}

// One H5Dwrite of `data`'s elements, in their logical order, to the selection of `fspace` (which
// selects data.numel() elements, none when it is empty). Collective under MPI, so every rank
// calls it once per write even with nothing to write.
void CheckpointWriter::Impl::write_selection(hid_t dset, hid_t fspace, const Tensor& data,
                                             DType dtype, bool scalar, const std::string& what) {
  const int64_t n = data.numel();
  std::vector<unsigned char> staging;
  const void* buf = nullptr;
  unsigned char dummy = 0;
  Id mspace;
  if (n == 0) {
    mspace = Id(H5Screate(H5S_SCALAR), H5Sclose);
    h5_check(H5Sselect_none(mspace.get()), what);
    h5_check(H5Sselect_none(fspace), what);
    buf = &dummy;
  } else {
    if (data.is_contiguous()) {
      buf = data.raw_data();
    } else {
      staging.resize(size_t(n) * dtype_size(dtype));
      ckpt::gather_bytes(data, staging.data());
      buf = staging.data();
    }
    // A 1-D memory space: HDF5 pairs memory and file elements in row-major order of each.
    const hsize_t count = hsize_t(n);
    mspace = scalar ? Id(H5Screate(H5S_SCALAR), H5Sclose)
                    : Id(H5Screate_simple(1, &count, nullptr), H5Sclose);
  }
  Id dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (group) h5_check(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), what);
  h5_check(H5Dwrite(dset, ckpt::memory_type(dtype), mspace.get(), fspace, dxpl.get(), buf), what);
}

void CheckpointWriter::write_slice(const std::string& name, const Tensor& piece,
                                   const Shape& offset) {
  ckpt::QuietErrors quiet;
  Impl& m = *impl_;
  Impl::Entry& e = m.entry_for_write(name, piece, "write_slice");
  const size_t ndim = e.shape.size();
  XOMNI_CHECK(piece.shape().size() == ndim && offset.size() == ndim, "checkpoint ", m.tmp,
              ": tensor '", name, "' has shape ", shape_str(e.shape), "; a piece of shape ",
              shape_str(piece.shape()), " at offset ", shape_str(offset),
              " does not match its rank");
  for (size_t d = 0; d < ndim; ++d)
    XOMNI_CHECK(offset[d] >= 0 && offset[d] + piece.shape()[d] <= e.shape[d], "checkpoint ", m.tmp,
                ": tensor '", name, "' of shape ", shape_str(e.shape), ": the piece of shape ",
                shape_str(piece.shape()), " at offset ", shape_str(offset), " does not fit (dim ",
                d, ")");
  const std::string what = "checkpoint " + m.tmp + ": cannot write tensor '" + name + "'";
  Id dset(h5_check(H5Dopen2(m.file.get(), name.c_str(), H5P_DEFAULT), what), H5Dclose);
  Id fspace(h5_check(H5Dget_space(dset.get()), what), H5Sclose);
  if (piece.numel() > 0 && ndim > 0) {
    std::vector<hsize_t> start(offset.begin(), offset.end());
    std::vector<hsize_t> count(piece.shape().begin(), piece.shape().end());
    h5_check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                 nullptr),
             what);
  }
  m.write_selection(dset.get(), fspace.get(), piece, e.dtype, ndim == 0, what);
  e.written += piece.numel();
}

void CheckpointWriter::write_box_range(const std::string& name, const Tensor& data,
                                       const Shape& box_offset, const Shape& box_shape,
                                       int64_t begin) {
  ckpt::QuietErrors quiet;
  Impl& m = *impl_;
  Impl::Entry& e = m.entry_for_write(name, data, "write_box_range");
  const int64_t n = data.numel();
  ckpt::check_box_range(e.shape, box_offset, box_shape, begin, begin + n,
                        "checkpoint " + m.tmp + ": write_box_range: tensor '" + name + "'");
  const std::string what = "checkpoint " + m.tmp + ": cannot write tensor '" + name + "'";
  Id dset(h5_check(H5Dopen2(m.file.get(), name.c_str(), H5P_DEFAULT), what), H5Dclose);
  Id fspace(h5_check(H5Dget_space(dset.get()), what), H5Sclose);
  if (n > 0) ckpt::select_box_range(fspace.get(), box_offset, box_shape, begin, begin + n, what);
  m.write_selection(dset.get(), fspace.get(), data, e.dtype, e.shape.empty(), what);
  e.written += n;
}

void CheckpointWriter::write_tensor(const std::string& name, const Tensor& t) {
  create_tensor(name, t.shape(), t.dtype());
  write_slice(name, t, Shape(t.shape().size(), 0));
}

void CheckpointWriter::set_config(const std::string& text) {
  impl_->config = text;
}

void CheckpointWriter::set_rng_state(const std::string& name, RngState state) {
  ckpt::check_key(name, "RNG state", impl_->tmp);
  impl_->rng[name] = state;
}

void CheckpointWriter::set_data_position(const std::string& name,
                                         const std::vector<int64_t>& position) {
  ckpt::check_key(name, "data position", impl_->tmp);
  impl_->positions[name] = position;
}

void CheckpointWriter::set_metadata(const std::string& key, const std::string& value) {
  ckpt::check_key(key, "metadata", impl_->tmp);
  XOMNI_CHECK(value.find('\0') == std::string::npos, "checkpoint ", impl_->tmp, ": metadata '", key,
              "' contains a NUL character");
  impl_->meta[key] = value;
}

namespace {
void write_small(hid_t file, const std::string& path, hid_t ftype, hid_t mtype, hsize_t n,
                 const void* data, const std::string& where) {
  const std::string what = where + ": cannot write '" + path + "'";
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id dset(h5_check(H5Dcreate2(file, path.c_str(), ftype, space.get(), lcpl.get(), H5P_DEFAULT,
                              H5P_DEFAULT),
                   what),
          H5Dclose);
  if (n > 0) h5_check(H5Dwrite(dset.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
  h5_check(dset.close(), what);
}
}  // namespace

// Rank 0 (or the only process) completes the closed temporary file with the default driver.
void CheckpointWriter::Impl::finish_serially() {
  const std::string w = where();
  ckpt::WritableFile f(
      h5_check(H5Fopen(tmp.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), w + ": cannot reopen"), tmp);
  for (const auto& [name, e] : tensors) {
    Id dset(h5_check(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), w), H5Dclose);
    ckpt::write_attr_str(dset.get(), ckpt::kAttrDtype, dtype_name(e.dtype), w);
  }
  if (config) ckpt::write_string_dataset(f.get(), ckpt::kConfig, *config, w);
  for (const auto& [name, s] : rng) {
    const uint64_t v[2] = {s.seed, s.offset};
    write_small(f.get(), std::string(ckpt::kRng) + "/" + name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 2,
                v, w);
  }
  for (const auto& [name, p] : positions)
    write_small(f.get(), std::string(ckpt::kDataPosition) + "/" + name, H5T_STD_I64LE,
                H5T_NATIVE_INT64, p.size(), p.data(), w);
  for (const auto& [key, value] : meta)
    ckpt::write_string_dataset(f.get(), std::string(ckpt::kMeta) + "/" + key, value, w);
  for (const std::string& p : ckpt::dataset_paths(f.get())) {
    Id dset(h5_check(H5Dopen2(f.get(), p.c_str(), H5P_DEFAULT), w), H5Dclose);
    ckpt::write_attr_u32(dset.get(), ckpt::kAttrCrc,
                         ckpt::dataset_crc(dset.get(), w + " dataset '" + p + "'", false), w);
  }
  // Last: the completion marker.
  ckpt::write_attr_i64(f.get(), ckpt::kAttrComplete, 1, w);
  const std::string why = f.reserve_space();
  if (!why.empty()) throw Error(w + ": cannot finish writing: " + why);
  f.close(w + ": cannot finish writing");
  ckpt::fsync_path(tmp, false);
  XOMNI_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "checkpoint: cannot rename ", tmp,
              " to ", path, ": ", ckpt::system_error_text(errno));
  ckpt::fsync_path(dir, true);
}

std::string CheckpointWriter::commit() {
  ckpt::QuietErrors quiet;
  Impl& m = *impl_;
  XOMNI_CHECK(!m.committed, "checkpoint ", m.path, ": commit() called twice");
  // Every tensor must be covered: sum the elements written over all ranks.
  std::vector<int64_t> written;
  for (const auto& [name, e] : m.tensors) written.push_back(e.written);
  if (m.group && !written.empty()) m.group->sum(written.data(), int64_t(written.size()));
  size_t i = 0;
  for (const auto& [name, e] : m.tensors) {
    XOMNI_CHECK(written[i] == shape_numel(e.shape), "checkpoint ", m.tmp, ": tensor '", name,
                "' of shape ", shape_str(e.shape), " has ", shape_numel(e.shape),
                " elements but the pieces written hold ", written[i]);
    ++i;
  }
  m.reserve_space("checkpoint " + m.tmp + ": cannot finish writing");
  m.file.close("checkpoint " + m.tmp + ": cannot finish writing");
  std::string err;
  if (m.rank == 0) {
    try {
      m.finish_serially();
    } catch (const std::exception& ex) {
      err = ex.what();
    }
  }
  if (m.group) {
    int len = int(err.size());
    m.group->broadcast(&len, sizeof len, 0);
    err.resize(size_t(len));
    if (len > 0) m.group->broadcast(err.data(), len, 0);
  }
  if (!err.empty()) throw Error(err);
  m.committed = true;
  return m.path;
}

}  // namespace xomni
