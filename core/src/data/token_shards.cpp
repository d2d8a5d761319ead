// Token shards: write_token_shards (HDF5 shards + manifest.json, atomic renames, optional loss
// masks) and TokenDataset (reads everything into memory and checks it against the manifest).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/hdf5.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

namespace xomni {

namespace fs = std::filesystem;
using ckpt::h5_check;
using ckpt::Id;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kFormatName = "xomni-token-shards";
constexpr const char* kTokens = "tokens";
constexpr const char* kDocOffsets = "doc_offsets";
constexpr const char* kLossMask = "loss_mask";
constexpr const char* kHasLossMask = "has_loss_mask";
constexpr const char* kAttrVocab = "vocab_size";
constexpr const char* kAttrVersion = "format_version";

std::string shard_name(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(i));
  return buf;
}

void fsync_or_throw(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  XOMNI_CHECK(fd >= 0, "write_token_shards: cannot open ", path,
              " to fsync it: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  XOMNI_CHECK(rc == 0, "write_token_shards: fsync of ", path, " failed: ", std::strerror(err));
}

void commit(const std::string& tmp, const std::string& path) {
  fsync_or_throw(tmp, false);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error("write_token_shards: cannot rename " + tmp + " to " + path + ": " +
                std::strerror(err));
  }
}

void write_1d(hid_t file, const char* name, hid_t ftype, hid_t mtype, const void* data, size_t n,
              const std::string& where) {
  const std::string what = where + ": cannot write dataset '" + name + "'";
  const hsize_t dims[1] = {hsize_t(n)};
  Id space(h5_check(H5Screate_simple(1, dims, nullptr), what), H5Sclose);
  Id dset(
      h5_check(H5Dcreate2(file, name, ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               what),
      H5Dclose);
  if (n > 0) h5_check(H5Dwrite(dset.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
  h5_check(dset.close(), what);
}

// Writes one shard to `path` via `path.tmp`; `masks` (null: none) gives its loss_mask.
void write_shard(const std::string& path, const std::vector<std::vector<int32_t>>& documents,
                 const std::vector<std::vector<uint8_t>>* masks, size_t first, size_t last,
                 int64_t vocab_size) {
  const std::string tmp = path + ".tmp";
  const std::string where = "token shard " + tmp;
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets{0};
  std::vector<uint8_t> mask;
  for (size_t d = first; d < last; ++d) {
    tokens.insert(tokens.end(), documents[d].begin(), documents[d].end());
    offsets.push_back(int64_t(tokens.size()));
    if (masks != nullptr) mask.insert(mask.end(), (*masks)[d].begin(), (*masks)[d].end());
  }
  try {
    ckpt::QuietErrors quiet;
    Id file(h5_check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                     "write_token_shards: cannot create " + tmp),
            H5Fclose);
    ckpt::write_attr_i64(file.get(), kAttrVersion, kTokenShardFormatVersion, where);
    ckpt::write_attr_i64(file.get(), kAttrVocab, vocab_size, where);
    write_1d(file.get(), kTokens, H5T_STD_I32LE, H5T_NATIVE_INT32, tokens.data(), tokens.size(),
             where);
    write_1d(file.get(), kDocOffsets, H5T_STD_I64LE, H5T_NATIVE_INT64, offsets.data(),
             offsets.size(), where);
    if (masks != nullptr)
      write_1d(file.get(), kLossMask, H5T_STD_U8LE, H5T_NATIVE_UINT8, mask.data(), mask.size(),
               where);
    h5_check(file.close(), where + ": close failed");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  commit(tmp, path);
}

// A shard file's size and CRC-32, recorded in the manifest and checked before HDF5 opens the file.
struct FileSeal {
  int64_t bytes = 0;
  int64_t crc32 = 0;
};

FileSeal file_seal(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, where, ": cannot open it");
  std::vector<char> block(size_t(1) << 20);
  FileSeal seal;
  uint32_t crc = 0;
  while (in) {
    in.read(block.data(), std::streamsize(block.size()));
    const std::streamsize n = in.gcount();
    crc = xomni::crc32(block.data(), size_t(n), crc);
    seal.bytes += n;
  }
  XOMNI_CHECK(!in.bad(), where, ": cannot read it");
  seal.crc32 = crc;
  return seal;
}

int64_t json_int(const nlohmann::json& j, const char* key, const std::string& where) {
  XOMNI_CHECK(j.is_object() && j.contains(key), where, ": missing key '", key, "'");
  const nlohmann::json& v = j.at(key);
  XOMNI_CHECK(v.is_number_integer(), where, ": key '", key, "' is not an integer");
  const int64_t x = v.get<int64_t>();
  XOMNI_CHECK(x >= 0, where, ": key '", key, "' is negative (", x, ")");
  return x;
}

// A 1-D integer dataset of `file` read as T; `what` names it in errors.
// `expected` >= 0: the length the manifest (`expected_from`) gives it, checked first.
template <typename T>
std::vector<T> read_1d(hid_t file, const char* name, hid_t mtype, const std::string& where,
                       int64_t expected = -1, const std::string& expected_from = "") {
  const std::string what = where + ": dataset '" + name + "'";
  XOMNI_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, what, " is missing");
  Id dset(h5_check(H5Dopen2(file, name, H5P_DEFAULT), what + " cannot be opened"), H5Dclose);
  Id ftype(h5_check(H5Dget_type(dset.get()), what), H5Tclose);
  XOMNI_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, what, " is not an integer dataset");
  Id space(h5_check(H5Dget_space(dset.get()), what), H5Sclose);
  XOMNI_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, what, " is not one-dimensional");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  if (expected >= 0)  // checked before anything is sized from the file's own claim
    XOMNI_CHECK(n == hsize_t(expected), where, " holds ", n, " values in dataset '", name, "' but ",
                expected_from, " says ", expected);
  std::vector<T> out;
  try {
    out.resize(static_cast<size_t>(n));
  } catch (const std::exception&) {  // bad_alloc, length_error
    throw Error(detail::concat(what, ": out of memory reading ", n, " values (",
                               human_bytes(double(n) * sizeof(T)), ")"));
  }
  if (n > 0)
    h5_check(H5Dread(dset.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
             what + " cannot be read");
  return out;
}

}  // namespace

struct TokenDataset::Data {
  std::string dir;
  int64_t vocab_size = 0;
  std::vector<TokenShardInfo> shards;
  std::vector<int32_t> tokens;   // every document back to back
  std::vector<int64_t> offsets;  // num_documents + 1 global document boundaries
  bool has_mask = false;
  std::vector<uint8_t> mask;  // per token when has_mask: 1 = counts as a target
};

namespace {

// Masks must match the documents token for token and hold only 0 and 1; `who` starts errors.
void check_masks(const std::vector<std::vector<int32_t>>& documents,
                 const std::vector<std::vector<uint8_t>>& masks, const std::string& who) {
  XOMNI_CHECK(masks.size() == documents.size(), who, ": ", masks.size(), " loss masks for ",
              documents.size(), " documents (one mask per document)");
  for (size_t d = 0; d < masks.size(); ++d) {
    XOMNI_CHECK(masks[d].size() == documents[d].size(), who, ": the loss mask of document ", d,
                " has ", masks[d].size(), " values for ", documents[d].size(), " tokens");
    for (size_t k = 0; k < masks[d].size(); ++k)
      XOMNI_CHECK(masks[d][k] <= 1, who, ": document ", d, " token ", k, " has loss mask ",
                  int(masks[d][k]), " (must be 0 or 1)");
  }
}

std::vector<TokenShardInfo> write_shards(const std::string& dir,
                                         const std::vector<std::vector<int32_t>>& documents,
                                         const std::vector<std::vector<uint8_t>>* masks,
                                         int64_t tokens_per_shard, int64_t vocab_size);

}  // namespace

std::vector<TokenShardInfo> write_token_shards(const std::string& dir,
                                               const std::vector<std::vector<int32_t>>& documents,
                                               int64_t tokens_per_shard, int64_t vocab_size) {
  return write_shards(dir, documents, nullptr, tokens_per_shard, vocab_size);
}

std::vector<TokenShardInfo> write_token_shards(const std::string& dir,
                                               const std::vector<std::vector<int32_t>>& documents,
                                               const std::vector<std::vector<uint8_t>>& masks,
                                               int64_t tokens_per_shard, int64_t vocab_size) {
  check_masks(documents, masks, "write_token_shards " + dir);
  return write_shards(dir, documents, &masks, tokens_per_shard, vocab_size);
}

namespace {

std::vector<TokenShardInfo> write_shards(const std::string& dir,
                                         const std::vector<std::vector<int32_t>>& documents,
                                         const std::vector<std::vector<uint8_t>>* masks,
                                         int64_t tokens_per_shard, int64_t vocab_size) {
  XOMNI_CHECK(!dir.empty(), "write_token_shards: empty folder name");
  XOMNI_CHECK(tokens_per_shard >= 1, "write_token_shards ", dir,
              ": tokens_per_shard must be >= 1 (", tokens_per_shard, ")");
  XOMNI_CHECK(vocab_size >= 1 && vocab_size <= int64_t(std::numeric_limits<int32_t>::max()) + 1,
              "write_token_shards ", dir, ": vocab_size ", vocab_size,
              " is outside [1, 2^31] (ids are int32)");
  for (size_t d = 0; d < documents.size(); ++d)
    for (size_t k = 0; k < documents[d].size(); ++k) {
      const int32_t id = documents[d][k];
      XOMNI_CHECK(id >= 0 && id < vocab_size, "write_token_shards ", dir, ": document ", d,
                  " token ", k, " has id ", id, " outside [0, ", vocab_size, ")");
    }
  std::error_code ec;
  fs::create_directories(dir, ec);
  XOMNI_CHECK(fs::is_directory(dir), "write_token_shards: cannot create the folder ", dir,
              ec ? ": " + ec.message() : std::string());

  std::vector<TokenShardInfo> shards;
  std::vector<FileSeal> seals;  // bytes and CRC-32 of each shard, for the manifest
  size_t first = 0;
  while (first < documents.size()) {
    size_t last = first;
    int64_t n = 0;
    while (last < documents.size() &&
           (last == first || n + int64_t(documents[last].size()) <= tokens_per_shard))
      n += int64_t(documents[last++].size());
    TokenShardInfo info{shard_name(int64_t(shards.size())), int64_t(last - first), n};
    const std::string path = (fs::path(dir) / info.file).string();
    write_shard(path, documents, masks, first, last, vocab_size);
    seals.push_back(file_seal(path, "token shard " + path));
    shards.push_back(info);
    first = last;
  }

  nlohmann::json m;
  m["format"] = kFormatName;
  m["format_version"] = kTokenShardFormatVersion;
  m["vocab_size"] = vocab_size;
  m[kHasLossMask] = masks != nullptr;
  int64_t total = 0;
  for (const auto& d : documents) total += int64_t(d.size());
  m["num_documents"] = int64_t(documents.size());
  m["num_tokens"] = total;
  m["shards"] = nlohmann::json::array();
  for (size_t i = 0; i < shards.size(); ++i)
    m["shards"].push_back({{"file", shards[i].file},
                           {"num_documents", shards[i].num_documents},
                           {"num_tokens", shards[i].num_tokens},
                           {"bytes", seals[i].bytes},
                           {"crc32", seals[i].crc32}});
  const std::string path = (fs::path(dir) / kManifest).string(), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << m.dump(2) << '\n';
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error("write_token_shards: cannot write " + tmp);
    }
  }
  commit(tmp, path);
  // Shards of an older, larger dataset in this folder are no longer referenced.
  for (int64_t i = int64_t(shards.size());; ++i) {
    const fs::path old = fs::path(dir) / shard_name(i);
    if (!fs::exists(old, ec)) break;
    fs::remove(old, ec);
  }
  fsync_or_throw(dir, true);
  return shards;
}

}  // namespace

TokenDataset TokenDataset::open(const std::string& dir) {
  auto data = std::make_shared<Data>();
  data->dir = dir;
  const std::string mpath = (fs::path(dir) / kManifest).string();
  const std::string mwhere = "token dataset manifest " + mpath;
  std::ifstream in(mpath, std::ios::binary);
  XOMNI_CHECK(in, mwhere, " is missing or unreadable");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(mwhere + " is not valid JSON: " + e.what());
  }
  XOMNI_CHECK(m.is_object() && m.contains("format") && m["format"] == kFormatName, mwhere,
              ": not a token dataset manifest (\"format\" is not \"", kFormatName, "\")");
  const int64_t version = json_int(m, "format_version", mwhere);
  XOMNI_CHECK(version >= 1 && version <= kTokenShardFormatVersion, mwhere, " has format version ",
              version, "; this build reads 1 to ", kTokenShardFormatVersion);
  data->vocab_size = json_int(m, "vocab_size", mwhere);
  if (m.contains(kHasLossMask)) {
    XOMNI_CHECK(m[kHasLossMask].is_boolean(), mwhere, ": key '", kHasLossMask,
                "' is not true or false");
    data->has_mask = m[kHasLossMask].get<bool>();
    XOMNI_CHECK(!data->has_mask || version >= 3, mwhere, " has format version ", version,
                " but declares a loss mask, which format version 3 introduced");
  }
  XOMNI_CHECK(data->vocab_size >= 1, mwhere, ": vocab_size must be >= 1");
  const int64_t num_documents = json_int(m, "num_documents", mwhere);
  const int64_t num_tokens = json_int(m, "num_tokens", mwhere);
  XOMNI_CHECK(m.contains("shards") && m["shards"].is_array(), mwhere,
              ": missing or non-array key 'shards'");
  std::vector<FileSeal> seals;
  for (const nlohmann::json& s : m["shards"]) {
    const std::string swhere = mwhere + ", shards[" + std::to_string(data->shards.size()) + "]";
    XOMNI_CHECK(s.is_object() && s.contains("file") && s["file"].is_string(), swhere,
                ": missing string key 'file'");
    TokenShardInfo info{s["file"].get<std::string>(), json_int(s, "num_documents", swhere),
                        json_int(s, "num_tokens", swhere)};
    // libhdf5 can corrupt memory reading a damaged shard, so no shard reaches it unchecked.
    XOMNI_CHECK(s.contains("crc32") && s.contains("bytes"), swhere,
                ": no bytes/crc32: the dataset was written before token shards carried checksums, "
                "and shards are not read unchecked (a damaged one can crash the HDF5 library); "
                "rewrite it with `xomni prepare-text ... --overwrite`");
    seals.push_back({json_int(s, "bytes", swhere), json_int(s, "crc32", swhere)});
    XOMNI_CHECK(!info.file.empty() && info.file.find('/') == std::string::npos &&
                    info.file != "." && info.file != "..",
                swhere, ": file '", info.file, "' is not a plain file name");
    XOMNI_CHECK(info.num_documents < (int64_t(1) << 62) && info.num_tokens < (int64_t(1) << 62),
                swhere, ": num_documents ", info.num_documents, " or num_tokens ", info.num_tokens,
                " is implausibly large (corrupt manifest?)");
    data->shards.push_back(info);
  }
  int64_t sum_docs = 0, sum_tokens = 0;
  for (const TokenShardInfo& s : data->shards) {
    sum_docs = checked_add(sum_docs, s.num_documents, mwhere + ": num_documents of the shards");
    sum_tokens = checked_add(sum_tokens, s.num_tokens, mwhere + ": num_tokens of the shards");
  }
  XOMNI_CHECK(sum_docs == num_documents && sum_tokens == num_tokens, mwhere, ": its shards hold ",
              sum_docs, " documents and ", sum_tokens, " tokens but it declares ", num_documents,
              " and ", num_tokens);

  // The manifest's counts size the buffers only when the shard files are large enough to hold
  // them (4 bytes a token, 8 an offset, uncompressed as written here); a manifest claiming more
  // is caught shard by shard below, against each dataset's real length, before it is read.
  uintmax_t shard_bytes = 0;
  for (const TokenShardInfo& s : data->shards) {
    std::error_code ec;
    const uintmax_t n = fs::file_size(fs::path(dir) / s.file, ec);
    if (!ec) shard_bytes += n;
  }
  if (double(num_tokens) * 4 + double(num_documents) * 8 <= double(shard_bytes)) {
    data->tokens.reserve(size_t(num_tokens));
    data->offsets.reserve(size_t(num_documents) + 1);
  }
  data->offsets.push_back(0);
  ckpt::QuietErrors quiet;
  for (const TokenShardInfo& s : data->shards) {
    const std::string path = (fs::path(dir) / s.file).string();
    const std::string where = "token shard " + path;
    std::error_code ec;
    XOMNI_CHECK(fs::is_regular_file(path, ec), where, " (listed in ", mpath, ") is missing");
    const FileSeal want = seals[size_t(&s - data->shards.data())];
    const FileSeal got = file_seal(path, where);
    XOMNI_CHECK(got.bytes == want.bytes && got.crc32 == want.crc32, where,
                " is damaged: ", got.bytes, " bytes with CRC-32 ", got.crc32, ", but ", mpath,
                " recorded ", want.bytes, " bytes with CRC-32 ", want.crc32,
                "; rewrite the dataset");
    Id file(h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                     where + " is unreadable: cannot open it as an HDF5 file"),
            H5Fclose);
    XOMNI_CHECK(ckpt::has_attr(file.get(), kAttrVersion), where,
                " is not a token shard (no attribute '", kAttrVersion, "')");
    const int64_t v = ckpt::read_attr_i64(file.get(), kAttrVersion, where);
    XOMNI_CHECK(v >= 1 && v <= kTokenShardFormatVersion, where, " has format version ", v,
                "; this build reads 1 to ", kTokenShardFormatVersion);
    const int64_t vocab = ckpt::read_attr_i64(file.get(), kAttrVocab, where);
    XOMNI_CHECK(vocab == data->vocab_size, where, " has vocab_size ", vocab, " but ", mpath,
                " says ", data->vocab_size);
    std::vector<int32_t> tokens =
        read_1d<int32_t>(file.get(), kTokens, H5T_NATIVE_INT32, where, s.num_tokens, mpath);
    std::vector<int64_t> off = read_1d<int64_t>(file.get(), kDocOffsets, H5T_NATIVE_INT64, where,
                                                s.num_documents + 1, mpath);
    XOMNI_CHECK(
        int64_t(tokens.size()) == s.num_tokens && int64_t(off.size()) == s.num_documents + 1, where,
        " holds ", tokens.size(), " tokens and ", off.size(), " document offsets but ", mpath,
        " says ", s.num_tokens, " tokens and ", s.num_documents, " documents (",
        s.num_documents + 1, " offsets)");
    if (data->has_mask) {
      std::vector<uint8_t> mask =
          read_1d<uint8_t>(file.get(), kLossMask, H5T_NATIVE_UINT8, where, s.num_tokens, mpath);
      for (size_t k = 0; k < mask.size(); ++k)
        XOMNI_CHECK(mask[k] <= 1, where, ": token ", k, " has loss mask ", int(mask[k]),
                    " (must be 0 or 1)");
      data->mask.insert(data->mask.end(), mask.begin(), mask.end());
    } else {
      XOMNI_CHECK(H5Lexists(file.get(), kLossMask, H5P_DEFAULT) <= 0, where, " holds a '",
                  kLossMask, "' dataset but ", mpath, " does not declare one (\"", kHasLossMask,
                  "\": true); the two do not belong together, rewrite the dataset");
    }
    XOMNI_CHECK(off.front() == 0 && off.back() == int64_t(tokens.size()), where,
                ": doc_offsets must start at 0 and end at the token count ", tokens.size());
    for (size_t d = 0; d + 1 < off.size(); ++d)
      XOMNI_CHECK(off[d] <= off[d + 1], where, ": doc_offsets decrease at document ", d);
    for (size_t k = 0; k < tokens.size(); ++k)
      if (tokens[k] < 0 || tokens[k] >= data->vocab_size) {
        const size_t d =
            size_t(std::upper_bound(off.begin(), off.end(), int64_t(k)) - off.begin()) - 1;
        throw Error(where + ": token " + std::to_string(k) + " (document " + std::to_string(d) +
                    " of the shard) has id " + std::to_string(tokens[k]) + ", outside [0, " +
                    std::to_string(data->vocab_size) + ")");
      }
    const int64_t base = int64_t(data->tokens.size());
    data->tokens.insert(data->tokens.end(), tokens.begin(), tokens.end());
    for (size_t d = 1; d < off.size(); ++d) data->offsets.push_back(base + off[d]);
  }
  return TokenDataset(std::move(data));
}

TokenDataset TokenDataset::from_documents(const std::vector<std::vector<int32_t>>& documents,
                                          const std::vector<std::vector<uint8_t>>& masks,
                                          int64_t vocab_size) {
  check_masks(documents, masks, "TokenDataset::from_documents");
  TokenDataset out = from_documents(documents, vocab_size);
  auto data = std::make_shared<Data>(*out.data_);
  data->has_mask = true;
  for (const auto& m : masks) data->mask.insert(data->mask.end(), m.begin(), m.end());
  return TokenDataset(std::move(data));
}

TokenDataset TokenDataset::from_documents(const std::vector<std::vector<int32_t>>& documents,
                                          int64_t vocab_size) {
  XOMNI_CHECK(vocab_size >= 1, "TokenDataset::from_documents: vocab_size must be >= 1");
  auto data = std::make_shared<Data>();
  data->vocab_size = vocab_size;
  data->offsets.push_back(0);
  for (size_t d = 0; d < documents.size(); ++d) {
    for (size_t k = 0; k < documents[d].size(); ++k)
      XOMNI_CHECK(documents[d][k] >= 0 && documents[d][k] < vocab_size,
                  "TokenDataset::from_documents: document ", d, " token ", k, " has id ",
                  documents[d][k], " outside [0, ", vocab_size, ")");
    data->tokens.insert(data->tokens.end(), documents[d].begin(), documents[d].end());
    data->offsets.push_back(int64_t(data->tokens.size()));
  }
  return TokenDataset(std::move(data));
}

int64_t TokenDataset::num_documents() const {
  return int64_t(data_->offsets.size()) - 1;
}
int64_t TokenDataset::num_tokens() const {
  return int64_t(data_->tokens.size());
}
int64_t TokenDataset::vocab_size() const {
  return data_->vocab_size;
}
const std::string& TokenDataset::dir() const {
  return data_->dir;
}
const std::vector<TokenShardInfo>& TokenDataset::shards() const {
  return data_->shards;
}
int64_t TokenDataset::document_size(int64_t i) const {
  XOMNI_CHECK(i >= 0 && i < num_documents(), "TokenDataset ", data_->dir, ": document ", i,
              " is outside [0, ", num_documents(), ")");
  return data_->offsets[size_t(i) + 1] - data_->offsets[size_t(i)];
}
std::span<const int32_t> TokenDataset::document(int64_t i) const {
  const int64_t n = document_size(i);
  return {data_->tokens.data() + data_->offsets[size_t(i)], size_t(n)};
}
bool TokenDataset::has_loss_mask() const {
  return data_->has_mask;
}
std::span<const uint8_t> TokenDataset::document_mask(int64_t i) const {
  const int64_t n = document_size(i);
  if (!data_->has_mask) return {};
  return {data_->mask.data() + data_->offsets[size_t(i)], size_t(n)};
}

}  // namespace xomni
