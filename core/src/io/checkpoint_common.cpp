// Checkpoint helpers: HDF5 handles and errors, dtype mapping, attributes, strings, CRC-32,
// strided byte copies, name checks, fsync.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "io/checkpoint_box_range.h"
#include "io/hdf5.h"

namespace xomni {

namespace {
// Slicing-by-8 tables: t[0] is the byte-wise table, t[k][i] advances t[k-1][i] by one byte.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k)
    for (size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  return t;
}
}  // namespace

uint32_t crc32(const void* data, size_t nbytes, uint32_t crc) {
  static const CrcTables t = make_crc_tables();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = crc ^ 0xFFFFFFFFu;
  if constexpr (std::endian::native == std::endian::little) {
    for (; nbytes >= 8; nbytes -= 8, p += 8) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + 4, 4);
      lo ^= c;
      c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
    }
  }
  for (; nbytes > 0; --nbytes) c = t[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

namespace ckpt {

QuietErrors::QuietErrors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {
herr_t collect_error(unsigned, const H5E_error2_t* err, void* out) {
  auto* lines = static_cast<std::vector<std::string>*>(out);
  if (err->desc && *err->desc) lines->push_back(err->desc);
  return 0;
}
}  // namespace

namespace {
// The errno a file driver quotes in its message ("..., errno = 28, error message = ..."), or 0.
// The MPI-IO driver quotes MPI's error string instead; its class for a full disk is NO_SPACE.
int quoted_errno(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    const size_t at = line.find("errno = ");
    if (at != std::string::npos) {
      const int e = std::atoi(line.c_str() + at + 8);
      if (e > 0) return e;
    }
    std::string lower(line);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (lower.find("no space") != std::string::npos || lower.find("no_space") != std::string::npos)
      return ENOSPC;
    if (lower.find("quota") != std::string::npos) return EDQUOT;
  }
  return 0;
}

}  // namespace

std::string system_error_text(int e) {
  std::string text = std::strerror(e);
  if (!text.empty()) text[0] = char(std::tolower(static_cast<unsigned char>(text[0])));
  if (e == ENOSPC || e == EDQUOT || e == EFBIG)
    text += " (free space, or raise the quota or file-size limit, and rerun)";
  return text;
}

std::string h5_error_text() {
  std::vector<std::string> lines;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &lines);
  H5Eclear2(H5E_DEFAULT);
  if (const int e = quoted_errno(lines)) return system_error_text(e);
  // The innermost entries say what actually failed; keep the last two, distinct.
  std::string text;
  size_t first = lines.size() > 2 ? lines.size() - 2 : 0;
  for (size_t i = first; i < lines.size(); ++i) {
    if (i > first && lines[i] == lines[i - 1]) continue;
    text += (text.empty() ? "" : "; ") + lines[i];
  }
  return text.empty() ? text : "HDF5: " + text;
}

hid_t h5_check(hid_t status, const std::string& what) {
  if (status < 0) {
    std::string detail = h5_error_text();
    throw Error(what + (detail.empty() ? "" : ": " + detail));
  }
  return status;
}

hid_t file_type(DType t) {
  switch (t) {
    case DType::f32:
      return H5T_IEEE_F32LE;
    case DType::f64:
      return H5T_IEEE_F64LE;
    case DType::bf16:
    case DType::f16:
      return H5T_STD_U16LE;
    case DType::i32:
      return H5T_STD_I32LE;
    case DType::i64:
      return H5T_STD_I64LE;
    case DType::u8:
      return H5T_STD_U8LE;
  }
  throw Error("checkpoint: unknown dtype");
}

hid_t memory_type(DType t) {
  switch (t) {
    case DType::f32:
      return H5T_NATIVE_FLOAT;
    case DType::f64:
      return H5T_NATIVE_DOUBLE;
    case DType::bf16:
    case DType::f16:
      return H5T_NATIVE_UINT16;
    case DType::i32:
      return H5T_NATIVE_INT32;
    case DType::i64:
      return H5T_NATIVE_INT64;
    case DType::u8:
      return H5T_NATIVE_UINT8;
  }
  throw Error("checkpoint: unknown dtype");
}

namespace {
Id scalar_space() {
  return Id(H5Screate(H5S_SCALAR), H5Sclose);
}

Id vlen_string_type() {
  Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// Strings are written fixed-length (format version 2): a variable-length string lives in HDF5's
// global heap, whose reader (H5HG_read) corrupts memory on a damaged file.
Id fixed_string_type(size_t bytes) {
  Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), std::max<size_t>(bytes, 1));
  H5Tset_strpad(t.get(), H5T_STR_NULLPAD);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// A config or metadata text is kilobytes; a larger size is a damaged type.
constexpr size_t kMaxStringBytes = size_t(256) << 20;

// The text of a scalar string attribute or dataset whose file type is `ftype`; read(mtype, buf)
// reads it in memory type `mtype`. A variable-length string only where `allow_variable` (files of
// format version 1).
template <typename Read>
std::string read_string_value(hid_t ftype, bool allow_variable, const std::string& where,
                              Read read) {
  XOMNI_CHECK(H5Tget_class(ftype) == H5T_STRING, where, ": not a string");
  const htri_t variable = H5Tis_variable_str(ftype);
  h5_check(variable, where + ": unreadable string type");
  if (variable > 0) {
    XOMNI_CHECK(allow_variable, where,
                ": a variable-length string, which this checkpoint's format version does not "
                "hold (the file is damaged or was not written by xomni)");
    Id t = vlen_string_type();
    char* p = nullptr;
    read(t.get(), static_cast<void*>(&p));
    std::string s = p ? p : "";
    Id space = scalar_space();
    H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, &p);
    return s;
  }
  const size_t bytes = H5Tget_size(ftype);
  XOMNI_CHECK(bytes > 0 && bytes <= kMaxStringBytes, where, ": a string of ", bytes,
              " bytes (damaged)");
  Id t = fixed_string_type(bytes);
  std::vector<char> buf(bytes, '\0');
  read(t.get(), static_cast<void*>(buf.data()));
  return std::string(buf.data(), ::strnlen(buf.data(), bytes));
}

void write_attr(hid_t obj, const char* name, hid_t ftype, hid_t mtype, const void* value,
                const std::string& where) {
  const std::string what = where + ": cannot write attribute '" + name + "'";
  if (H5Aexists(obj, name) > 0) h5_check(H5Adelete(obj, name), what);
  Id space = scalar_space();
  Id attr(h5_check(H5Acreate2(obj, name, ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT), what),
          H5Aclose);
  h5_check(H5Awrite(attr.get(), mtype, value), what);
  h5_check(attr.close(), what);
}

Id open_attr(hid_t obj, const char* name, const std::string& where) {
  return Id(h5_check(H5Aopen(obj, name, H5P_DEFAULT),
                     where + ": missing or unreadable attribute '" + name + "'"),
            H5Aclose);
}
}  // namespace

void write_attr_i64(hid_t obj, const char* name, int64_t value, const std::string& where) {
  write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, where);
}
void write_attr_u32(hid_t obj, const char* name, uint32_t value, const std::string& where) {
  write_attr(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, &value, where);
}
void write_attr_str(hid_t obj, const char* name, const std::string& value,
                    const std::string& where) {
  Id t = fixed_string_type(value.size());
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attr(obj, name, t.get(), t.get(), padded.data(), where);
}

bool has_attr(hid_t obj, const char* name) {
  return H5Aexists(obj, name) > 0;
}

int64_t read_attr_i64(hid_t obj, const char* name, const std::string& where) {
  Id attr = open_attr(obj, name, where);
  int64_t v = 0;
  h5_check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v),
           where + ": cannot read attribute '" + name + "' as an integer");
  return v;
}

uint32_t read_attr_u32(hid_t obj, const char* name, const std::string& where) {
  Id attr = open_attr(obj, name, where);
  uint32_t v = 0;
  h5_check(H5Aread(attr.get(), H5T_NATIVE_UINT32, &v),
           where + ": cannot read attribute '" + name + "' as uint32");
  return v;
}

std::string read_attr_str(hid_t obj, const char* name, const std::string& where,
                          bool allow_variable) {
  Id attr = open_attr(obj, name, where);
  Id ftype(h5_check(H5Aget_type(attr.get()), where), H5Tclose);
  XOMNI_CHECK(H5Tget_class(ftype.get()) == H5T_STRING, where, ": attribute '", name,
              "' is not a string");
  Id space(h5_check(H5Aget_space(attr.get()), where), H5Sclose);
  XOMNI_CHECK(H5Sget_simple_extent_type(space.get()) == H5S_SCALAR, where, ": attribute '", name,
              "' is not a single string");
  return read_string_value(ftype.get(), allow_variable, where + " attribute '" + name + "'",
                           [&](hid_t mtype, void* buf) {
                             h5_check(H5Aread(attr.get(), mtype, buf),
                                      where + ": cannot read attribute '" + name + "'");
                           });
}

void write_string_dataset(hid_t file, const std::string& path, const std::string& value,
                          const std::string& where) {
  XOMNI_CHECK(value.find('\0') == std::string::npos, where,
              ": string values may not contain NUL characters");
  const std::string what = where + ": cannot write string dataset '" + path + "'";
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Id t = fixed_string_type(value.size());
  Id space = scalar_space();
  Id dset(h5_check(H5Dcreate2(file, path.c_str(), t.get(), space.get(), lcpl.get(), H5P_DEFAULT,
                              H5P_DEFAULT),
                   what),
          H5Dclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  h5_check(H5Dwrite(dset.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data()), what);
  h5_check(dset.close(), what);
}

bool is_string_dataset(hid_t dset) {
  Id ftype(H5Dget_type(dset), H5Tclose);
  return ftype.valid() && H5Tget_class(ftype.get()) == H5T_STRING;
}

std::string read_string_dataset(hid_t dset, const std::string& where, bool allow_variable) {
  XOMNI_CHECK(is_string_dataset(dset), where, ": not a string dataset");
  Id ftype(h5_check(H5Dget_type(dset), where), H5Tclose);
  Id space(h5_check(H5Dget_space(dset), where), H5Sclose);
  XOMNI_CHECK(H5Sget_simple_extent_type(space.get()) == H5S_SCALAR, where,
              ": string dataset is not scalar");
  return read_string_value(ftype.get(), allow_variable, where, [&](hid_t mtype, void* buf) {
    h5_check(H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
             where + ": cannot read string");
  });
}

uint32_t dataset_crc(hid_t dset, const std::string& where, bool allow_variable) {
  if (is_string_dataset(dset)) {
    std::string s = read_string_dataset(dset, where, allow_variable);
    return crc32(s.data(), s.size());
  }
  Id ftype(h5_check(H5Dget_type(dset), where), H5Tclose);
  const size_t esize = H5Tget_size(ftype.get());
  Id fspace(h5_check(H5Dget_space(dset), where), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(fspace.get());
  h5_check(rank, where);
  std::vector<hsize_t> dims(size_t(rank), 0);
  if (rank > 0) H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr);
  hsize_t numel = 1;
  for (hsize_t d : dims) numel *= d;
  if (numel == 0) return crc32(nullptr, 0);
  if (rank == 0) {
    std::vector<unsigned char> buf(esize);
    h5_check(H5Dread(dset, ftype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
             where + ": cannot read data");
    return crc32(buf.data(), buf.size());
  }
  // Blocks of whole rows along dim 0, at most ~64 MiB each (at least one row).
  const hsize_t row = numel / dims[0];
  const hsize_t rows_per_block = std::max<hsize_t>(1, (hsize_t(64) << 20) / (row * esize));
  std::vector<unsigned char> buf;
  uint32_t crc = 0;
  for (hsize_t r0 = 0; r0 < dims[0]; r0 += rows_per_block) {
    std::vector<hsize_t> start(size_t(rank), 0), count = dims;
    count[0] = std::min(rows_per_block, dims[0] - r0);
    start[0] = r0;
    buf.resize(size_t(count[0] * row * esize));
    h5_check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                 nullptr),
             where);
    Id mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
    h5_check(H5Dread(dset, ftype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()),
             where + ": cannot read data");
    crc = crc32(buf.data(), buf.size(), crc);
  }
  return crc;
}

namespace {
// The datasets below one group, by iterating its links and descending into subgroups. (Not
// H5Ovisit: on a damaged object header it fails holding HDF5-internal references, and the library
// then prints "infinite loop closing library" at exit.)
struct Listing {
  std::vector<std::string>* paths;
  std::string prefix;    // the group's path with a trailing '/', "" for the root
  std::string* damaged;  // the first object that could not be read
};

herr_t list_group(hid_t group, Listing& listing);

herr_t list_link(hid_t group, const char* name, const H5L_info_t* link, void* data) {
  Listing& l = *static_cast<Listing*>(data);
  if (link->type != H5L_TYPE_HARD) return 0;  // a checkpoint has none; never follow them
  const std::string path = l.prefix + name;
  H5O_info_t info;
  if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    *l.damaged = path;
    return -1;
  }
  if (info.type == H5O_TYPE_DATASET) l.paths->push_back(path);
  if (info.type != H5O_TYPE_GROUP) return 0;
  const Id sub(H5Gopen2(group, name, H5P_DEFAULT), H5Gclose);
  if (!sub.valid()) {
    *l.damaged = path;
    return -1;
  }
  Listing inner{l.paths, path + "/", l.damaged};
  return list_group(sub.get(), inner);
}

herr_t list_group(hid_t group, Listing& listing) {
  return H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, list_link, &listing);
}
}  // namespace

std::vector<std::string> dataset_paths(hid_t file) {
  std::vector<std::string> paths;
  std::string damaged;
  Listing root{&paths, "", &damaged};
  const herr_t status = list_group(file, root);
  h5_check(status, "checkpoint: cannot list the datasets" +
                       (damaged.empty() ? std::string() : " ('" + damaged + "' is damaged)"));
  std::sort(paths.begin(), paths.end());
  return paths;
}

void select_box_range(hid_t space, const Shape& box_offset, const Shape& box_shape, int64_t begin,
                      int64_t end, const std::string& what) {
  const std::vector<Box> boxes = flat_range_boxes(box_shape, begin, end);
  if (boxes.empty()) {
    h5_check(H5Sselect_none(space), what);
    return;
  }
  if (box_shape.empty()) {  // a scalar: its one element
    h5_check(H5Sselect_all(space), what);
    return;
  }
  bool first = true;
  for (const Box& b : boxes) {
    std::vector<hsize_t> start(b.offset.size()), count(b.shape.begin(), b.shape.end());
    for (size_t d = 0; d < start.size(); ++d) start[d] = hsize_t(box_offset[d] + b.offset[d]);
    h5_check(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(),
                                 nullptr, count.data(), nullptr),
             what);
    first = false;
  }
}

namespace {
// Calls fn(element index in logical order, byte offset in the view's storage) per element.
template <typename Fn>
void for_each_element(const Tensor& t, Fn&& fn) {
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  const int64_t n = t.numel();
  if (n == 0) return;
  const int64_t ndim = int64_t(shape.size());
  std::vector<int64_t> idx(size_t(ndim), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (int64_t d = ndim - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[size_t(d)]) {
        off += strides[size_t(d)];
        break;
      }
      off -= strides[size_t(d)] * (shape[size_t(d)] - 1);
      idx[size_t(d)] = 0;
    }
  }
}
}  // namespace

void gather_bytes(const Tensor& t, void* dst) {
  const size_t es = dtype_size(t.dtype());
  const auto* base = static_cast<const unsigned char*>(t.raw_data());
  auto* out = static_cast<unsigned char*>(dst);
  if (t.is_contiguous()) {
    if (t.numel() > 0) std::memcpy(out, base, size_t(t.numel()) * es);
    return;
  }
  for_each_element(t, [&](int64_t i, int64_t off) {
    std::memcpy(out + size_t(i) * es, base + off * int64_t(es), es);
  });
}

void scatter_bytes(const void* src, const Tensor& t) {
  const size_t es = dtype_size(t.dtype());
  auto* base = static_cast<unsigned char*>(t.raw_data());
  const auto* in = static_cast<const unsigned char*>(src);
  if (t.is_contiguous()) {
    if (t.numel() > 0) std::memcpy(base, in, size_t(t.numel()) * es);
    return;
  }
  for_each_element(t, [&](int64_t i, int64_t off) {
    std::memcpy(base + off * int64_t(es), in + size_t(i) * es, es);
  });
}

void check_key(const std::string& name, const char* kind, const std::string& file) {
  XOMNI_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." &&
                  name.find('\0') == std::string::npos,
              "checkpoint ", file, ": invalid ", kind, " name '", name,
              "' (one non-empty path component, no '/')");
}

void check_tensor_name(const std::string& name, const std::string& file) {
  bool ok = !name.empty() && name.front() != '/' && name.back() != '/' &&
            name.find("//") == std::string::npos && name.find('\0') == std::string::npos;
  std::vector<std::string> parts;
  for (size_t b = 0; ok && b <= name.size();) {
    size_t e = name.find('/', b);
    if (e == std::string::npos) e = name.size();
    parts.push_back(name.substr(b, e - b));
    if (parts.back() == "." || parts.back() == "..") ok = false;
    b = e + 1;
  }
  XOMNI_CHECK(ok, "checkpoint ", file, ": invalid tensor name '", name,
              "' (expected a path like model/layer.0.weight)");
  const std::string& first = parts.front();
  XOMNI_CHECK(first != kConfig && first != kRng && first != kDataPosition && first != kMeta,
              "checkpoint ", file, ": tensor name '", name, "' uses the reserved top-level name '",
              first, "' (config, rng, data_position and meta are reserved)");
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  XOMNI_CHECK(fd >= 0, "checkpoint: cannot open ", path, " to fsync it: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  XOMNI_CHECK(rc == 0, "checkpoint: fsync of ", path, " failed: ", std::strerror(err));
}

}  // namespace ckpt
}  // namespace xomni
