// Image shards: ImageShardWriter and ImageDataset (see image_data.h).
//
// On disk an image dataset is a folder:
//   <dir>/shard-00000.h5, shard-00001.h5, ...  HDF5, each holding n samples:
//       "pixels"    uint8 [total bytes]  contiguous, uncompressed: sample i is the row-major RGB
//                                        bytes pixels[offsets[i] : offsets[i+1]]
//       "offsets"   int64 [n + 1]        offsets[0] = 0, offsets[n] = total bytes
//       "sizes"     int64 [n, 2]         (height, width); offsets[i+1] - offsets[i] = 3 * h * w
//       "kind"      string [n]           variable-length UTF-8 ("scene", "text", "imported", ...)
//       "metadata"  string [n]           one JSON document per sample
//       "captions"  string [n]           a JSON array of strings per sample
//       "qa"        string [n]           a JSON array of [question, answer] pairs per sample
//       attribute "format_version" (int64)
//   <dir>/manifest.json                  {"format": "xomni-image-shards", "format_version",
//       "num_samples", "shards": [{"file", "num_samples", "num_pixel_bytes", "pixel_offset",
//       "metadata_crc32"}, ...]}
//   metadata_crc32 is the CRC-32 of the shard's bytes outside its pixels (pixel_offset,
//   num_pixel_bytes): open() checks it before HDF5 parses the file, since libhdf5 can crash on
//   a damaged string heap. Manifests without it (older datasets) are read unchecked.
// Samples never straddle shards; global sample i is sample i - first(shard) of its shard.
//
// Why pixels are stored plain: this HDF5 build is not thread-safe, and the loader reads samples
// from a prefetch thread while the trainer may write a checkpoint with HDF5. So open() reads
// every shard's small fields (sizes, strings) and the file offset of its contiguous "pixels"
// in the opening thread, and get() reads pixels with pread() on a plain file descriptor, never
// calling HDF5. Memory: the strings of all samples stay in memory (~1-2 KB a sample); pixels
// are read on demand. Files are written under "<name>.tmp", fsynced and renamed, the manifest
// last; a writer removes an old manifest when it starts, so an unfinished folder is no dataset.
#include "xomni/core/data/image_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/hdf5.h"
#include "xomni/core/io/checkpoint.h"

namespace xomni {

namespace fs = std::filesystem;
using ckpt::h5_check;
using ckpt::Id;
using json = nlohmann::json;

namespace {

constexpr int64_t kFormatVersion = 1;
constexpr const char* kManifest = "manifest.json";
constexpr const char* kFormatName = "xomni-image-shards";
constexpr const char* kAttrVersion = "format_version";
constexpr size_t kOpenFiles = 8;  // pixel file descriptors kept open (LRU)

std::string shard_name(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(i));
  return buf;
}

void commit(const std::string& tmp, const std::string& path) {
  ckpt::fsync_path(tmp, false);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error("ImageShardWriter: cannot rename " + tmp + " to " + path + ": " +
                std::strerror(err));
  }
}

Id string_type(const std::string& what) {
  Id t(h5_check(H5Tcopy(H5T_C_S1), what), H5Tclose);
  h5_check(H5Tset_size(t.get(), H5T_VARIABLE), what);
  h5_check(H5Tset_cset(t.get(), H5T_CSET_UTF8), what);
  return t;
}

void write_dataset(hid_t file, const char* name, hid_t ftype, hid_t mtype, const void* data,
                   std::vector<hsize_t> dims, const std::string& where) {
  const std::string what = where + ": cannot write dataset '" + name + "'";
  Id space(h5_check(H5Screate_simple(int(dims.size()), dims.data(), nullptr), what), H5Sclose);
  // No modification times in the object headers: the same samples give the same bytes.
  Id dcpl(h5_check(H5Pcreate(H5P_DATASET_CREATE), what), H5Pclose);
  h5_check(H5Pset_obj_track_times(dcpl.get(), false), what);
  Id dset(h5_check(H5Dcreate2(file, name, ftype, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                   what),
          H5Dclose);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n > 0) h5_check(H5Dwrite(dset.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
  h5_check(dset.close(), what);
}

void write_strings(hid_t file, const char* name, const std::vector<std::string>& values,
                   const std::string& where) {
  std::vector<const char*> ptrs;
  for (const std::string& s : values) ptrs.push_back(s.c_str());
  Id t = string_type(where);
  write_dataset(file, name, t.get(), t.get(), ptrs.data(), {hsize_t(values.size())}, where);
}

// Opens dataset `name` and checks it has `rank` dims; returns it with its dims.
Id open_dataset(hid_t file, const char* name, int rank, std::vector<hsize_t>& dims,
                const std::string& where) {
  const std::string what = where + ": dataset '" + name + "'";
  XOMNI_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, what, " is missing");
  Id dset(h5_check(H5Dopen2(file, name, H5P_DEFAULT), what + " cannot be opened"), H5Dclose);
  Id space(h5_check(H5Dget_space(dset.get()), what), H5Sclose);
  XOMNI_CHECK(H5Sget_simple_extent_ndims(space.get()) == rank, what, " does not have ", rank,
              " dimension(s)");
  dims.assign(size_t(rank), 0);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dset;
}

std::vector<int64_t> read_i64(hid_t file, const char* name, int rank, std::vector<hsize_t>& dims,
                              const std::string& where) {
  Id dset = open_dataset(file, name, rank, dims, where);
  Id ftype(h5_check(H5Dget_type(dset.get()), where), H5Tclose);
  XOMNI_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, where, ": dataset '", name,
              "' is not an integer dataset");
  size_t n = 1;
  for (hsize_t d : dims) n *= size_t(d);
  std::vector<int64_t> out(n);
  if (n > 0)
    h5_check(H5Dread(dset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
             where + ": dataset '" + name + "' cannot be read");
  return out;
}

std::vector<std::string> read_strings(hid_t file, const char* name, size_t n,
                                      const std::string& where) {
  const std::string what = where + ": dataset '" + name + "'";
  std::vector<hsize_t> dims;
  Id dset = open_dataset(file, name, 1, dims, where);
  XOMNI_CHECK(dims[0] == n, what, " holds ", dims[0], " strings, expected ", n);
  Id ftype(h5_check(H5Dget_type(dset.get()), what), H5Tclose);
  XOMNI_CHECK(H5Tget_class(ftype.get()) == H5T_STRING && H5Tis_variable_str(ftype.get()) > 0, what,
              " is not a variable-length string dataset");
  std::vector<char*> ptrs(n, nullptr);
  Id mtype = string_type(what);
  std::vector<std::string> out(n);
  if (n == 0) return out;
  h5_check(H5Dread(dset.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
           what + " cannot be read");
  for (size_t i = 0; i < n; ++i) out[i] = ptrs[i] ? ptrs[i] : "";
  Id space(h5_check(H5Dget_space(dset.get()), what), H5Sclose);
  H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

int64_t json_int(const json& j, const char* key, const std::string& where) {
  XOMNI_CHECK(j.is_object() && j.contains(key) && j.at(key).is_number_integer(), where,
              ": missing integer key '", key, "'");
  const int64_t x = j.at(key).get<int64_t>();
  XOMNI_CHECK(x >= 0, where, ": key '", key, "' is negative (", x, ")");
  return x;
}

// CRC-32 of `path`'s bytes outside the pixel data [pixel_offset, pixel_offset + pixel_bytes):
// everything HDF5 parses (superblock, object headers, the string heaps). The manifest keeps it so
// that a damaged shard is refused before HDF5 reads it (libhdf5 can crash on a corrupt heap).
uint32_t metadata_crc(const std::string& path, int64_t pixel_offset, int64_t pixel_bytes,
                      const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, where, " cannot be opened to check it");
  std::vector<char> buf(size_t(1) << 20);
  uint32_t crc = 0;
  int64_t pos = 0;
  auto crc_until = [&](int64_t end) {  // end < 0: to the end of the file
    while (end < 0 || pos < end) {
      const int64_t want =
          end < 0 ? int64_t(buf.size()) : std::min<int64_t>(int64_t(buf.size()), end - pos);
      in.read(buf.data(), std::streamsize(want));
      const auto got = int64_t(in.gcount());
      crc = crc32(buf.data(), size_t(got), crc);
      pos += got;
      if (got < want) break;
    }
  };
  crc_until(pixel_offset);
  XOMNI_CHECK(pos == pixel_offset, where, " ends at byte ", pos, ", before its pixels at byte ",
              pixel_offset, " (truncated)");
  in.clear();
  in.seekg(std::streamoff(pixel_offset + pixel_bytes));
  pos = pixel_offset + pixel_bytes;
  crc_until(-1);
  return crc;
}

// The file offset of the contiguous "pixels" dataset (0 when it is empty and has no storage).
int64_t pixel_offset_of(hid_t file, int64_t num_bytes, const std::string& where) {
  std::vector<hsize_t> dims;
  Id pixels = open_dataset(file, "pixels", 1, dims, where);
  if (num_bytes == 0) return 0;
  const haddr_t off = H5Dget_offset(pixels.get());
  XOMNI_CHECK(off != HADDR_UNDEF, where, ": dataset 'pixels' has no storage");
  return int64_t(off);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct ImageShardWriter::Impl {
  std::string dir;
  int64_t per_shard = 0;
  std::vector<ImageSample> pending;
  json shards = json::array();
  int64_t total = 0;
  bool finished = false;

  void flush() {
    if (pending.empty()) return;
    const std::string name = shard_name(int64_t(shards.size()));
    const std::string path = (fs::path(dir) / name).string(), tmp = path + ".tmp";
    const std::string where = "image shard " + tmp;
    const size_t n = pending.size();
    std::vector<int64_t> offsets{0}, sizes;
    std::vector<uint8_t> pixels;
    std::vector<std::string> kinds, metadata, captions, qa;
    for (const ImageSample& s : pending) {
      offsets.push_back(offsets.back() + int64_t(s.image.rgb.size()));
      sizes.push_back(s.image.height);
      sizes.push_back(s.image.width);
    }
    pixels.reserve(size_t(offsets.back()));
    for (const ImageSample& s : pending) {
      pixels.insert(pixels.end(), s.image.rgb.begin(), s.image.rgb.end());
      kinds.push_back(s.kind);
      metadata.push_back(s.metadata_json);
      captions.push_back(json(s.captions).dump());
      json q = json::array();
      for (const auto& [question, answer] : s.qa) q.push_back({question, answer});
      qa.push_back(q.dump());
    }
    int64_t pixel_offset = 0;
    uint32_t crc = 0;
    try {
      ckpt::QuietErrors quiet;
      Id file(h5_check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                       "ImageShardWriter: cannot create " + tmp),
              H5Fclose);
      ckpt::write_attr_i64(file.get(), kAttrVersion, kFormatVersion, where);
      write_dataset(file.get(), "pixels", H5T_STD_U8LE, H5T_NATIVE_UINT8, pixels.data(),
                    {hsize_t(pixels.size())}, where);
      write_dataset(file.get(), "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, offsets.data(),
                    {hsize_t(n + 1)}, where);
      write_dataset(file.get(), "sizes", H5T_STD_I64LE, H5T_NATIVE_INT64, sizes.data(),
                    {hsize_t(n), 2}, where);
      write_strings(file.get(), "kind", kinds, where);
      write_strings(file.get(), "metadata", metadata, where);
      write_strings(file.get(), "captions", captions, where);
      write_strings(file.get(), "qa", qa, where);
      pixel_offset = pixel_offset_of(file.get(), offsets.back(), where);
      h5_check(file.close(), where + ": close failed");
      crc = metadata_crc(tmp, pixel_offset, offsets.back(), where);
    } catch (...) {
      std::remove(tmp.c_str());
      throw;
    }
    commit(tmp, path);
    shards.push_back({{"file", name},
                      {"num_samples", int64_t(n)},
                      {"num_pixel_bytes", offsets.back()},
                      {"pixel_offset", pixel_offset},
                      {"metadata_crc32", crc}});
    total += int64_t(n);
    pending.clear();
  }
};

ImageShardWriter::ImageShardWriter(const std::string& dir, int64_t samples_per_shard)
    : impl_(std::make_unique<Impl>()) {
  XOMNI_CHECK(!dir.empty(), "ImageShardWriter: empty folder name");
  XOMNI_CHECK(samples_per_shard >= 1, "ImageShardWriter ", dir,
              ": samples_per_shard must be >= 1 (got ", samples_per_shard, ")");
  impl_->dir = dir;
  impl_->per_shard = samples_per_shard;
  std::error_code ec;
  fs::create_directories(dir, ec);
  XOMNI_CHECK(fs::is_directory(dir), "ImageShardWriter: cannot create the folder ", dir,
              ec ? ": " + ec.message() : std::string());
  // An older dataset here stops being one now: its shards are about to be replaced.
  const fs::path manifest = fs::path(dir) / kManifest;
  if (fs::exists(manifest, ec)) {
    fs::remove(manifest, ec);
    XOMNI_CHECK(!ec, "ImageShardWriter: cannot remove the old ", manifest.string(), ": ",
                ec.message());
    ckpt::fsync_path(dir, true);
  }
}

ImageShardWriter::~ImageShardWriter() = default;

void ImageShardWriter::add(const ImageSample& s) {
  XOMNI_CHECK(!impl_->finished, "ImageShardWriter ", impl_->dir, ": add() after finish()");
  XOMNI_CHECK(s.image.width >= 1 && s.image.height >= 1 &&
                  s.image.rgb.size() == size_t(3 * s.image.width * s.image.height),
              "ImageShardWriter ", impl_->dir, ": sample ",
              impl_->total + int64_t(impl_->pending.size()), " has an invalid image (",
              s.image.width, "x", s.image.height, ", ", s.image.rgb.size(), " bytes)");
  if (!s.metadata_json.empty()) {
    XOMNI_CHECK(json::accept(s.metadata_json), "ImageShardWriter ", impl_->dir, ": sample ",
                impl_->total + int64_t(impl_->pending.size()), " metadata is not valid JSON");
  }
  impl_->pending.push_back(s);
  if (int64_t(impl_->pending.size()) >= impl_->per_shard) impl_->flush();
}

int64_t ImageShardWriter::finish() {
  XOMNI_CHECK(!impl_->finished, "ImageShardWriter ", impl_->dir, ": finish() called twice");
  impl_->flush();
  json m;
  m["format"] = kFormatName;
  m["format_version"] = kFormatVersion;
  m["num_samples"] = impl_->total;
  m["shards"] = impl_->shards;
  const std::string path = (fs::path(impl_->dir) / kManifest).string(), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << m.dump(2) << '\n';
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error("ImageShardWriter: cannot write " + tmp);
    }
  }
  commit(tmp, path);
  std::error_code ec;
  for (int64_t i = int64_t(impl_->shards.size());; ++i) {  // shards of an older, larger dataset
    const fs::path old = fs::path(impl_->dir) / shard_name(i);
    if (!fs::exists(old, ec)) break;
    fs::remove(old, ec);
  }
  ckpt::fsync_path(impl_->dir, true);
  impl_->finished = true;
  return impl_->total;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

struct Shard {
  std::string path;
  int64_t first = 0;         // global index of its first sample
  int64_t pixel_offset = 0;  // byte offset of "pixels" in the file
  std::vector<int64_t> offsets, sizes;
  std::vector<std::string> kind, metadata, captions, qa;
};

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

struct ImageDataset::Impl {
  std::string dir;
  std::vector<Shard> shards;
  int64_t total = 0;
  std::mutex mu;                                            // guards files
  std::list<std::pair<size_t, std::shared_ptr<Fd>>> files;  // most recently used first

  std::shared_ptr<Fd> file(size_t shard) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = files.begin(); it != files.end(); ++it)
      if (it->first == shard) {
        files.splice(files.begin(), files, it);
        return files.front().second;
      }
    const int fd = ::open(shards[shard].path.c_str(), O_RDONLY | O_CLOEXEC);
    XOMNI_CHECK(fd >= 0, "image shard ", shards[shard].path,
                " cannot be opened: ", std::strerror(errno));
    files.emplace_front(shard, std::make_shared<Fd>(fd));
    if (files.size() > kOpenFiles) files.pop_back();
    return files.front().second;
  }

  void load_shard(Shard& s, int64_t num_samples, int64_t num_bytes, const std::string& mpath) {
    const std::string where = "image shard " + s.path;
    std::error_code ec;
    XOMNI_CHECK(fs::is_regular_file(s.path, ec), where, " (listed in ", mpath, ") is missing");
    Id file(h5_check(H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                     where + " is unreadable: cannot open it as an HDF5 file"),
            H5Fclose);
    XOMNI_CHECK(ckpt::has_attr(file.get(), kAttrVersion), where,
                " is not an image shard (no attribute '", kAttrVersion, "')");
    const int64_t v = ckpt::read_attr_i64(file.get(), kAttrVersion, where);
    XOMNI_CHECK(v >= 1 && v <= kFormatVersion, where, " has format version ", v,
                "; this build reads 1 to ", kFormatVersion);
    std::vector<hsize_t> dims;
    s.offsets = read_i64(file.get(), "offsets", 1, dims, where);
    XOMNI_CHECK(int64_t(s.offsets.size()) == num_samples + 1, where, " holds ", s.offsets.size(),
                " offsets but ", mpath, " says ", num_samples, " samples (", num_samples + 1,
                " offsets)");
    s.sizes = read_i64(file.get(), "sizes", 2, dims, where);
    XOMNI_CHECK(dims[0] == hsize_t(num_samples) && dims[1] == 2, where,
                ": dataset 'sizes' has shape [", dims[0], ", ", dims[1], "], expected [",
                num_samples, ", 2]");
    XOMNI_CHECK(s.offsets.front() == 0 && s.offsets.back() == num_bytes, where,
                ": offsets must run from 0 to ", num_bytes, " (", mpath, ")");
    for (int64_t i = 0; i < num_samples; ++i) {
      const int64_t h = s.sizes[size_t(2 * i)], w = s.sizes[size_t(2 * i + 1)];
      int64_t bytes = 0;  // 3 * h * w, refused when it overflows
      const bool fits = h >= 1 && w >= 1 && !__builtin_mul_overflow(h, w, &bytes) &&
                        !__builtin_mul_overflow(bytes, int64_t(3), &bytes);
      XOMNI_CHECK(fits && s.offsets[size_t(i + 1)] - s.offsets[size_t(i)] == bytes, where,
                  ": sample ", i, " has size ", h, "x", w, " but ",
                  s.offsets[size_t(i + 1)] - s.offsets[size_t(i)], " pixel bytes");
    }
    Id pixels = open_dataset(file.get(), "pixels", 1, dims, where);
    XOMNI_CHECK(int64_t(dims[0]) == num_bytes, where, ": dataset 'pixels' holds ", dims[0],
                " bytes, expected ", num_bytes);
    Id dcpl(h5_check(H5Dget_create_plist(pixels.get()), where), H5Pclose);
    XOMNI_CHECK(H5Pget_layout(dcpl.get()) == H5D_CONTIGUOUS, where,
                ": dataset 'pixels' is not stored contiguously (chunked or compressed pixels "
                "are not supported)");
    if (num_bytes > 0) {
      const haddr_t off = H5Dget_offset(pixels.get());
      XOMNI_CHECK(off != HADDR_UNDEF, where, ": dataset 'pixels' has no storage");
      s.pixel_offset = int64_t(off);
      const auto file_size = fs::file_size(s.path, ec);
      XOMNI_CHECK(!ec && int64_t(file_size) >= s.pixel_offset + num_bytes, where,
                  " is truncated: its pixels end at byte ", s.pixel_offset + num_bytes,
                  " but the file has ", ec ? 0 : file_size);
    }
    s.kind = read_strings(file.get(), "kind", size_t(num_samples), where);
    s.metadata = read_strings(file.get(), "metadata", size_t(num_samples), where);
    s.captions = read_strings(file.get(), "captions", size_t(num_samples), where);
    s.qa = read_strings(file.get(), "qa", size_t(num_samples), where);
  }
};

ImageDataset ImageDataset::open(const std::string& dir) {
  auto impl = std::make_shared<Impl>();
  impl->dir = dir;
  const std::string mpath = (fs::path(dir) / kManifest).string();
  const std::string mwhere = "image dataset manifest " + mpath;
  std::ifstream in(mpath, std::ios::binary);
  XOMNI_CHECK(in, mwhere, " is missing or unreadable");
  std::stringstream text;
  text << in.rdbuf();
  json m;
  try {
    m = json::parse(text.str());
  } catch (const json::exception& e) {
    throw Error(mwhere + " is not valid JSON: " + e.what());
  }
  XOMNI_CHECK(m.is_object() && m.contains("format") && m["format"] == kFormatName, mwhere,
              ": not an image dataset manifest (\"format\" is not \"", kFormatName, "\")");
  const int64_t version = json_int(m, "format_version", mwhere);
  XOMNI_CHECK(version >= 1 && version <= kFormatVersion, mwhere, " has format version ", version,
              "; this build reads 1 to ", kFormatVersion);
  const int64_t num_samples = json_int(m, "num_samples", mwhere);
  XOMNI_CHECK(m.contains("shards") && m["shards"].is_array(), mwhere,
              ": missing or non-array key 'shards'");
  ckpt::QuietErrors quiet;
  for (const json& js : m["shards"]) {
    const std::string swhere = mwhere + ", shards[" + std::to_string(impl->shards.size()) + "]";
    XOMNI_CHECK(js.is_object() && js.contains("file") && js["file"].is_string(), swhere,
                ": missing string key 'file'");
    const std::string name = js["file"].get<std::string>();
    XOMNI_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..",
                swhere, ": file '", name, "' is not a plain file name");
    Shard s;
    s.path = (fs::path(dir) / name).string();
    s.first = impl->total;
    const int64_t n = json_int(js, "num_samples", swhere);
    XOMNI_CHECK(n < (int64_t(1) << 62), swhere, ": num_samples ", n,
                " is implausibly large (corrupt manifest?)");
    const int64_t num_bytes = json_int(js, "num_pixel_bytes", swhere);
    int64_t pixel_offset = -1;
    // libhdf5 can corrupt memory reading a damaged shard, so no shard reaches it unchecked.
    XOMNI_CHECK(js.contains("metadata_crc32"), swhere,
                ": no metadata_crc32: the dataset was written before image shards carried "
                "checksums, and shards are not read unchecked (a damaged one can crash the HDF5 "
                "library); rewrite it with `xomni data synth` or `xomni data import --overwrite`");
    {
      pixel_offset = json_int(js, "pixel_offset", swhere);
      const int64_t want = json_int(js, "metadata_crc32", swhere);
      std::error_code ec;
      XOMNI_CHECK(fs::is_regular_file(s.path, ec), "image shard ", s.path, " (listed in ", mpath,
                  ") is missing");
      {  // our shards start with the HDF5 signature (no user block)
        char sig[8] = {};
        std::ifstream(s.path, std::ios::binary).read(sig, 8);
        XOMNI_CHECK(std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0, "image shard ", s.path,
                    " is unreadable: cannot open it as an HDF5 file (no HDF5 signature)");
      }
      XOMNI_CHECK(pixel_offset <= (int64_t(1) << 62) && num_bytes <= (int64_t(1) << 62), swhere,
                  ": pixel_offset or num_pixel_bytes is implausibly large (corrupt manifest?)");
      const uint32_t got = metadata_crc(s.path, pixel_offset, num_bytes, "image shard " + s.path);
      XOMNI_CHECK(int64_t(got) == want, "image shard ", s.path,
                  " is damaged: the checksum of its metadata (", got, ") is not the ", want,
                  " that ", mpath, " recorded; regenerate or re-import the dataset");
    }
    impl->load_shard(s, n, num_bytes, mpath);
    XOMNI_CHECK(num_bytes == 0 || s.pixel_offset == pixel_offset, "image shard ", s.path,
                ": its pixels start at byte ", s.pixel_offset, ", not at ", pixel_offset, " as ",
                mpath, " says");
    impl->total += n;
    impl->shards.push_back(std::move(s));
  }
  XOMNI_CHECK(impl->total == num_samples, mwhere, ": its shards hold ", impl->total,
              " samples but it declares ", num_samples);
  return ImageDataset(std::move(impl));
}

int64_t ImageDataset::size() const {
  return impl_->total;
}

const std::string& ImageDataset::dir() const {
  return impl_->dir;
}

ImageSample ImageDataset::get(int64_t index) const {
  XOMNI_CHECK(index >= 0 && index < impl_->total, "ImageDataset ", impl_->dir, ": sample ", index,
              " is outside [0, ", impl_->total, ")");
  const auto it = std::upper_bound(impl_->shards.begin(), impl_->shards.end(), index,
                                   [](int64_t i, const Shard& s) { return i < s.first; });
  const size_t si = size_t(it - impl_->shards.begin()) - 1;
  const Shard& s = impl_->shards[si];
  const size_t i = size_t(index - s.first);
  ImageSample out;
  out.image.height = s.sizes[2 * i];
  out.image.width = s.sizes[2 * i + 1];
  const int64_t begin = s.offsets[i], bytes = s.offsets[i + 1] - begin;
  out.image.rgb.resize(size_t(bytes));
  const std::shared_ptr<Fd> fd = impl_->file(si);
  for (int64_t done = 0; done < bytes;) {
    const ssize_t r = ::pread(fd->fd, out.image.rgb.data() + done, size_t(bytes - done),
                              off_t(s.pixel_offset + begin + done));
    XOMNI_CHECK(r > 0 || (r < 0 && errno == EINTR), "image shard ", s.path, ": cannot read sample ",
                i, "'s pixels: ", r == 0 ? std::string("file truncated") : std::strerror(errno));
    if (r > 0) done += r;
  }
  out.kind = s.kind[i];
  out.metadata_json = s.metadata[i];
  const std::string where = "image shard " + s.path + ", sample " + std::to_string(i);
  try {
    const json caps = json::parse(s.captions[i]);
    out.captions = caps.get<std::vector<std::string>>();
    for (const json& p : json::parse(s.qa[i])) {
      XOMNI_CHECK(p.is_array() && p.size() == 2, where, ": a qa entry is not [question, answer]");
      out.qa.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
    }
  } catch (const json::exception& e) {
    throw Error(where + ": bad captions/qa JSON: " + e.what());
  }
  return out;
}

}  // namespace xomni
