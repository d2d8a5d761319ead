#include "xomni/core/io/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace xomni {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

DType parse_dtype(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  if (s == "BF16") return DType::bf16;
  if (s == "F16") return DType::f16;
  if (s == "I32") return DType::i32;
  if (s == "I64") return DType::i64;
  if (s == "U8" || s == "BOOL") return DType::u8;
  throw Error(path + ": tensor '" + name + "' has unsupported safetensors dtype " + s);
}

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::bf16:
      return "BF16";
    case DType::f16:
      return "F16";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::u8:
      return "U8";
  }
  return "?";
}
}  // namespace

namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

// One header entry, checked: what it says and where its bytes lie in the data section.
struct EntryInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

uint64_t non_negative_integer(const json& v, const std::string& where, const char* what) {
  XOMNI_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), where,
              ": ", what, " holds ", v.dump(), ", not a non-negative integer");
  return v.get<uint64_t>();
}

EntryInfo parse_entry(const std::string& name, const json& e, const std::string& path) {
  const std::string where = path + ": tensor '" + name + "'";
  XOMNI_CHECK(e.is_object(), where, ": header entry is ", e.type_name(), ", not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    XOMNI_CHECK(e.contains(key), where, ": header entry lacks \"", key, "\"");
  EntryInfo info;
  info.name = name;
  XOMNI_CHECK(e["dtype"].is_string(), where, ": \"dtype\" is ", e["dtype"].dump(),
              ", not a string such as \"F32\"");
  info.dtype = parse_dtype(e["dtype"].get<std::string>(), path, name);
  XOMNI_CHECK(e["shape"].is_array(), where, ": \"shape\" is ", e["shape"].dump(),
              ", not an array of sizes");
  for (const json& d : e["shape"]) {
    const uint64_t v = non_negative_integer(d, where, "\"shape\"");
    XOMNI_CHECK(v <= uint64_t(std::numeric_limits<int64_t>::max()), where, ": dimension ", v,
                " is too large");
    info.shape.push_back(int64_t(v));
  }
  const json& offs = e["data_offsets"];
  XOMNI_CHECK(offs.is_array() && offs.size() == 2, where, ": \"data_offsets\" is ", offs.dump(),
              ", not [begin, end]");
  info.begin = non_negative_integer(offs[0], where, "\"data_offsets\"");
  info.end = non_negative_integer(offs[1], where, "\"data_offsets\"");
  XOMNI_CHECK(info.begin <= info.end, where, ": data_offsets [", info.begin, ", ", info.end,
              "] end before they begin");
  const auto nbytes = uint64_t(checked_nbytes(info.shape, dtype_size(info.dtype), where));
  XOMNI_CHECK(info.end - info.begin == nbytes, where, ": data_offsets [", info.begin, ", ",
              info.end, "] hold ", info.end - info.begin, " bytes but ", dtype_tag(info.dtype), " ",
              shape_str(info.shape), " needs ", nbytes);
  return info;
}

// The safetensors rule: the tensors' byte ranges tile the data section exactly, with no overlap
// and no gap (so no byte is read as two tensors and a truncated file is caught).
void check_layout(std::vector<EntryInfo>& entries, uint64_t data_size, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const EntryInfo& a, const EntryInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const EntryInfo* prev = nullptr;
  for (const EntryInfo& e : entries) {
    if (e.begin < pos)
      throw Error(detail::concat(path, ": tensors '", prev->name, "' [", prev->begin, ", ",
                                 prev->end, ") and '", e.name, "' [", e.begin, ", ", e.end,
                                 ") overlap in data_offsets (corrupt header)"));
    XOMNI_CHECK(e.begin == pos, path, ": bytes [", pos, ", ", e.begin,
                ") of the data belong to no tensor (before '", e.name,
                "'); data_offsets must tile the data (corrupt header?)");
    pos = e.end;
    prev = &e;
  }
  XOMNI_CHECK(pos <= data_size, path, ": tensor '", prev ? prev->name : "", "' ends at byte ", pos,
              " of the data but the file holds only ", data_size, " (file truncated?)");
  XOMNI_CHECK(pos == data_size, path, ": ", data_size - pos,
              " bytes after the last tensor belong to no tensor (corrupt header or file?)");
}

}  // namespace

TensorMap load_safetensors(const std::string& path) {
  std::error_code ec;
  XOMNI_CHECK(fs::is_regular_file(path, ec), "safetensors: ", path, " is not a readable file");
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "safetensors: cannot open ", path);
  const uint64_t file_size = fs::file_size(path);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  XOMNI_CHECK(in && file_size >= 8 && header_len <= file_size - 8, path,
              ": not a safetensors file (header length ", header_len, " for a file of ", file_size,
              " bytes)");
  // Real headers are kilobytes to a few megabytes; a larger claim is damage, not a header to load.
  XOMNI_CHECK(header_len <= kMaxHeaderBytes, path, ": the safetensors header claims ", header_len,
              " bytes, more than the ", kMaxHeaderBytes, " a header may have (damaged file?)");
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  XOMNI_CHECK(in, path, ": short read of the safetensors header");
  json meta;
  try {
    meta = json::parse(header);
  } catch (const json::exception& e) {
    throw Error(path + ": malformed safetensors header: " + e.what());
  }
  XOMNI_CHECK(meta.is_object(), path, ": the safetensors header is ", meta.type_name(),
              ", not a JSON object of tensors");
  const uint64_t data_start = 8 + header_len, data_size = file_size - data_start;
  std::vector<EntryInfo> entries;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    entries.push_back(parse_entry(it.key(), it.value(), path));
  }
  check_layout(entries, data_size, path);
  TensorMap out;
  for (const EntryInfo& e : entries) {
    Tensor t;
    try {
      t = Tensor::empty(e.shape, e.dtype);
    } catch (const Error& err) {
      throw Error(path + ": tensor '" + e.name + "': " + err.what());
    }
    in.seekg(std::streamoff(data_start + e.begin));
    in.read(static_cast<char*>(t.raw_data()), std::streamsize(e.end - e.begin));
    XOMNI_CHECK(in, path, ": short read for tensor '", e.name, "'");
    out.emplace(e.name, t);
  }
  return out;
}

TensorMap load_safetensors_any(const std::string& path) {
  if (!fs::is_directory(path)) return load_safetensors(path);
  const fs::path dir(path);
  if (fs::exists(dir / "model.safetensors"))
    return load_safetensors((dir / "model.safetensors").string());
  const fs::path index = dir / "model.safetensors.index.json";
  XOMNI_CHECK(fs::exists(index), path,
              ": neither model.safetensors nor model.safetensors.index.json found");
  std::ifstream in(index);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(index.string() + ": malformed index: " + e.what());
  }
  XOMNI_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
              index.string(), ": no \"weight_map\" object");
  std::map<std::string, std::vector<std::string>> by_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    XOMNI_CHECK(it.value().is_string(), index.string(), ": weight_map maps '", it.key(), "' to ",
                it.value().dump(), ", not a file name");
    const std::string file = it.value().get<std::string>();
    // Shards sit beside the index; a path elsewhere is a damaged or hostile index.
    XOMNI_CHECK(!file.empty() && file.find('/') == std::string::npos && file != "." && file != "..",
                index.string(), ": weight_map maps '", it.key(), "' to '", file,
                "', not a file name in this folder");
    by_file[it.value().get<std::string>()].push_back(it.key());
  }
  TensorMap out;
  for (const auto& [file, names] : by_file) {
    TensorMap shard = load_safetensors((dir / file).string());
    for (const std::string& n : names) {
      auto t = shard.find(n);
      XOMNI_CHECK(t != shard.end(), index.string(), ": tensor '", n, "' is mapped to ", file,
                  " but that shard does not hold it");
      out.emplace(n, t->second);
    }
  }
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors) {
  json meta = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t nbytes = uint64_t(t.numel()) * dtype_size(t.dtype());
    meta[name] = {{"dtype", dtype_tag(t.dtype())},
                  {"shape", t.shape()},
                  {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string header = meta.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::ofstream out(path, std::ios::binary);
  XOMNI_CHECK(out, "safetensors: cannot write ", path);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(header.data(), std::streamsize(len));
  for (const auto& [name, t] : tensors) {
    const Tensor c = t.contiguous();
    out.write(static_cast<const char*>(c.raw_data()),
              std::streamsize(size_t(c.numel()) * dtype_size(c.dtype())));
  }
  XOMNI_CHECK(out, "safetensors: write failed for ", path);
}

}  // namespace xomni
