// CheckpointReader: opens a committed checkpoint, checks its format version, completion marker
// and (by default) every dataset's CRC-32, and reads tensors whole or as hyperslabs.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <set>

#include "io/checkpoint_box_range.h"
#include "io/hdf5.h"
#include "xomni/core/io/checkpoint_group.h"

namespace xomni {

using ckpt::h5_check;
using ckpt::Id;

static_assert(std::endian::native == std::endian::little,
              "checkpoint CRCs are computed over little-endian bytes");

struct CheckpointReader::Impl {
  std::string path;
  Id file;
  int64_t step = 0;
  int64_t version = 0;
  std::set<std::string> datasets;  // every dataset path
  std::vector<std::string> tensors;

  std::string where() const { return "checkpoint " + path; }
  // Format version 1 wrote variable-length strings; later versions write them fixed-length.
  bool vlen_ok() const { return version == 1; }
  void open(const std::string& p, CheckpointGroup* group, CheckpointVerify verify);
  Id open_dataset(const std::string& p, const std::string& what) const {
    return Id(
        h5_check(H5Dopen2(file.get(), p.c_str(), H5P_DEFAULT), where() + ": cannot open " + what),
        H5Dclose);
  }
  std::vector<std::string> names_under(const char* group) const {
    std::vector<std::string> out;
    const std::string prefix = std::string(group) + "/";
    for (const std::string& d : datasets)
      if (d.rfind(prefix, 0) == 0) out.push_back(d.substr(prefix.size()));
    return out;
  }
  const std::string& require(const std::string& p, const std::string& kind) const {
    XOMNI_CHECK(datasets.count(p), where(), ": no ", kind);
    return p;
  }
  void check_crc(hid_t dset, const std::string& p, uint32_t actual) const {
    XOMNI_CHECK(ckpt::has_attr(dset, ckpt::kAttrCrc), where(), ": dataset '", p,
                "' has no crc32 attribute (damaged or not written by xomni)");
    uint32_t stored = ckpt::read_attr_u32(dset, ckpt::kAttrCrc, where() + " dataset '" + p + "'");
    if (stored != actual) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "CRC-32 of the data is 0x%08x, the stored one 0x%08x", actual,
                    stored);
      throw Error(where() + ": dataset '" + p + "' is damaged (" + msg + ")");
    }
  }
};

void CheckpointReader::Impl::open(const std::string& p, CheckpointGroup* group,
                                  CheckpointVerify verify) {
  ckpt::QuietErrors quiet;
  path = p;
  std::error_code ec;
  XOMNI_CHECK(std::filesystem::is_regular_file(p, ec), "checkpoint ", p,
              " does not exist or is not a regular file");
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (group != nullptr)
    h5_check(H5Pset_fapl_mpio(fapl.get(), group->mpi_comm(), MPI_INFO_NULL), where());
  file = Id(h5_check(H5Fopen(p.c_str(), H5F_ACC_RDONLY, fapl.get()),
                     where() + " is unreadable: cannot open it as an HDF5 file"),
            H5Fclose);
  hid_t f = file.get();
  XOMNI_CHECK(ckpt::has_attr(f, ckpt::kAttrVersion), where(),
              " is not an xomni checkpoint (no attribute ", ckpt::kAttrVersion, ")");
  version = ckpt::read_attr_i64(f, ckpt::kAttrVersion, where());
  XOMNI_CHECK(version <= kCheckpointFormatVersion, where(), " has format version ", version,
              ", newer than the newest this build reads (", kCheckpointFormatVersion,
              "); use a newer xomni");
  XOMNI_CHECK(version >= 1, where(), " has an invalid format version ", version);
  XOMNI_CHECK(ckpt::has_attr(f, ckpt::kAttrComplete) &&
                  ckpt::read_attr_i64(f, ckpt::kAttrComplete, where()) == 1,
              where(), " is incomplete: it has no completion marker (the writer did not finish)");
  step = ckpt::read_attr_i64(f, ckpt::kAttrStep, where());
  for (const std::string& d : ckpt::dataset_paths(f)) {
    datasets.insert(d);
    const std::string first = d.substr(0, d.find('/'));
    if (first != ckpt::kConfig && first != ckpt::kRng && first != ckpt::kDataPosition &&
        first != ckpt::kMeta)
      tensors.push_back(d);
  }
  if (verify == CheckpointVerify::checksums) {
    for (const std::string& d : datasets) {
      Id dset = open_dataset(d, "dataset '" + d + "'");
      check_crc(dset.get(), d,
                ckpt::dataset_crc(dset.get(), where() + " dataset '" + d + "'", vlen_ok()));
    }
  }
}

CheckpointReader::CheckpointReader(const std::string& path, CheckpointVerify verify)
    : impl_(std::make_unique<Impl>()) {
  impl_->open(path, nullptr, verify);
}

CheckpointReader::CheckpointReader(const std::string& path, CheckpointGroup& group,
                                   CheckpointVerify verify)
    : impl_(std::make_unique<Impl>()) {
  impl_->open(path, &group, verify);
}

CheckpointReader::~CheckpointReader() {
  ckpt::QuietErrors quiet;
  impl_.reset();
}

const std::string& CheckpointReader::path() const {
  return impl_->path;
}
int64_t CheckpointReader::step() const {
  return impl_->step;
}
int64_t CheckpointReader::format_version() const {
  return impl_->version;
}
std::vector<std::string> CheckpointReader::tensor_names() const {
  return impl_->tensors;
}

bool CheckpointReader::has_tensor(const std::string& name) const {
  const auto& t = impl_->tensors;
  return std::binary_search(t.begin(), t.end(), name);
}

TensorInfo CheckpointReader::tensor_info(const std::string& name) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  XOMNI_CHECK(has_tensor(name), m.where(), ": no tensor '", name, "'");
  const std::string w = m.where() + " tensor '" + name + "'";
  Id dset = m.open_dataset(name, "tensor '" + name + "'");
  const std::string dname = ckpt::read_attr_str(dset.get(), ckpt::kAttrDtype, w, m.vlen_ok());
  TensorInfo info;
  bool known = false;
  for (DType t :
       {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8})
    if (dname == dtype_name(t)) info.dtype = t, known = true;
  XOMNI_CHECK(known, w, ": unknown dtype '", dname, "'");
  Id ftype(h5_check(H5Dget_type(dset.get()), w), H5Tclose);
  XOMNI_CHECK(H5Tequal(ftype.get(), ckpt::file_type(info.dtype)) > 0, w,
              ": the stored HDF5 type does not match its dtype attribute '", dname, "'");
  Id space(h5_check(H5Dget_space(dset.get()), w), H5Sclose);
  int rank = int(h5_check(H5Sget_simple_extent_ndims(space.get()), w));
  std::vector<hsize_t> dims(size_t(rank), 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  info.shape.assign(dims.begin(), dims.end());
  return info;
}

Tensor CheckpointReader::read_slice(const std::string& name, const Shape& offset,
                                    const Shape& shape) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  const TensorInfo info = tensor_info(name);
  const std::string w = m.where() + " tensor '" + name + "'";
  const size_t ndim = info.shape.size();
  XOMNI_CHECK(offset.size() == ndim && shape.size() == ndim, w, " has shape ",
              shape_str(info.shape), "; a slice of shape ", shape_str(shape), " at offset ",
              shape_str(offset), " does not match its rank");
  for (size_t d = 0; d < ndim; ++d)
    XOMNI_CHECK(offset[d] >= 0 && shape[d] >= 0 && offset[d] + shape[d] <= info.shape[d], w,
                " has shape ", shape_str(info.shape), "; the slice of shape ", shape_str(shape),
                " at offset ", shape_str(offset), " is out of bounds (dim ", d, ")");
  Tensor out;
  try {  // a damaged file's shape may overflow or exceed memory: name the file and tensor
    out = Tensor::empty(shape, info.dtype);
  } catch (const Error& e) {
    throw Error(w + ": " + e.what());
  }
  if (out.numel() == 0) return out;
  Id dset = m.open_dataset(name, "tensor '" + name + "'");
  Id fspace(h5_check(H5Dget_space(dset.get()), w), H5Sclose);
  Id mspace;
  if (ndim == 0) {
    mspace = Id(H5Screate(H5S_SCALAR), H5Sclose);
  } else {
    std::vector<hsize_t> start(offset.begin(), offset.end()), count(shape.begin(), shape.end());
    h5_check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                 nullptr),
             w);
    mspace = Id(H5Screate_simple(int(ndim), count.data(), nullptr), H5Sclose);
  }
  h5_check(H5Dread(dset.get(), ckpt::memory_type(info.dtype), mspace.get(), fspace.get(),
                   H5P_DEFAULT, out.raw_data()),
           w + ": read failed");
  return out;
}

Tensor CheckpointReader::read_box_range(const std::string& name, const Shape& box_offset,
                                        const Shape& box_shape, int64_t begin, int64_t end) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  const TensorInfo info = tensor_info(name);
  const std::string w = m.where() + " tensor '" + name + "'";
  ckpt::check_box_range(info.shape, box_offset, box_shape, begin, end, w + ": read_box_range");
  Tensor out = Tensor::empty({end - begin}, info.dtype);
  if (out.numel() == 0) return out;
  Id dset = m.open_dataset(name, "tensor '" + name + "'");
  Id fspace(h5_check(H5Dget_space(dset.get()), w), H5Sclose);
  ckpt::select_box_range(fspace.get(), box_offset, box_shape, begin, end, w);
  const hsize_t count = hsize_t(end - begin);
  Id mspace(info.shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr),
            H5Sclose);
  h5_check(H5Dread(dset.get(), ckpt::memory_type(info.dtype), mspace.get(), fspace.get(),
                   H5P_DEFAULT, out.raw_data()),
           w + ": read failed");
  return out;
}

Tensor CheckpointReader::read_tensor(const std::string& name) const {
  ckpt::QuietErrors quiet;
  const TensorInfo info = tensor_info(name);
  Tensor out = read_slice(name, Shape(info.shape.size(), 0), info.shape);
  Id dset = impl_->open_dataset(name, "tensor '" + name + "'");
  impl_->check_crc(dset.get(), name,
                   crc32(out.raw_data(), size_t(out.numel()) * dtype_size(out.dtype())));
  return out;
}

void CheckpointReader::read_into(const std::string& name, const Tensor& dst) const {
  const TensorInfo info = tensor_info(name);
  const std::string w = impl_->where() + " tensor '" + name + "'";
  XOMNI_CHECK(dst.shape() == info.shape, w, ": shape mismatch: the checkpoint has ",
              shape_str(info.shape), ", the destination ", shape_str(dst.shape()));
  XOMNI_CHECK(dst.dtype() == info.dtype, w, ": dtype mismatch: the checkpoint has ",
              dtype_name(info.dtype), ", the destination ", dtype_name(dst.dtype()));
  XOMNI_CHECK(dst.device().is_cpu(), w, ": the destination must be a CPU tensor");
  Tensor t = read_tensor(name);
  ckpt::scatter_bytes(t.raw_data(), dst);
}

bool CheckpointReader::has_config() const {
  return impl_->datasets.count(ckpt::kConfig) > 0;
}

std::string CheckpointReader::config() const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  Id dset = m.open_dataset(m.require(ckpt::kConfig, "config text"), "config");
  return ckpt::read_string_dataset(dset.get(), m.where() + " config", m.vlen_ok());
}

std::vector<std::string> CheckpointReader::rng_names() const {
  return impl_->names_under(ckpt::kRng);
}

RngState CheckpointReader::rng_state(const std::string& name) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  const std::string p = std::string(ckpt::kRng) + "/" + name;
  Id dset = m.open_dataset(m.require(p, "RNG state '" + name + "'"), "RNG state '" + name + "'");
  Id space(h5_check(H5Dget_space(dset.get()), m.where()), H5Sclose);
  XOMNI_CHECK(H5Sget_simple_extent_npoints(space.get()) == 2, m.where(), ": RNG state '", name,
              "' does not hold 2 values");
  uint64_t v[2] = {0, 0};
  h5_check(H5Dread(dset.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
           m.where() + ": cannot read RNG state '" + name + "'");
  return RngState{v[0], v[1]};
}

std::vector<std::string> CheckpointReader::data_position_names() const {
  return impl_->names_under(ckpt::kDataPosition);
}

std::vector<int64_t> CheckpointReader::data_position(const std::string& name) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  const std::string p = std::string(ckpt::kDataPosition) + "/" + name;
  const std::string what = "data position '" + name + "'";
  Id dset = m.open_dataset(m.require(p, what), what);
  Id space(h5_check(H5Dget_space(dset.get()), m.where()), H5Sclose);
  std::vector<int64_t> v(size_t(H5Sget_simple_extent_npoints(space.get())));
  if (!v.empty())
    h5_check(H5Dread(dset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()),
             m.where() + ": cannot read " + what);
  return v;
}

std::vector<std::string> CheckpointReader::metadata_keys() const {
  return impl_->names_under(ckpt::kMeta);
}

std::string CheckpointReader::metadata(const std::string& key) const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  const std::string p = std::string(ckpt::kMeta) + "/" + key;
  Id dset = m.open_dataset(m.require(p, "metadata '" + key + "'"), "metadata '" + key + "'");
  return ckpt::read_string_dataset(dset.get(), m.where() + " metadata '" + key + "'", m.vlen_ok());
}

void CheckpointReader::verify_checksums() const {
  ckpt::QuietErrors quiet;
  const Impl& m = *impl_;
  for (const std::string& d : m.datasets) {
    Id dset = m.open_dataset(d, "dataset '" + d + "'");
    m.check_crc(dset.get(), d,
                ckpt::dataset_crc(dset.get(), m.where() + " dataset '" + d + "'", m.vlen_ok()));
  }
}

}  // namespace xomni
