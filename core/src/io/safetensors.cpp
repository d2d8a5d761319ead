#include "xomni/core/io/safetensors.h"

#include <filesystem>
#include <fstream>
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

TensorMap load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in, "safetensors: cannot open ", path);
  const auto file_size = fs::file_size(path);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  XOMNI_CHECK(in && header_len <= file_size - 8, path, ": not a safetensors file (header length ",
              header_len, " for a file of ", file_size, " bytes)");
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  json meta;
  try {
    meta = json::parse(header);
  } catch (const json::exception& e) {
    throw Error(path + ": malformed safetensors header: " + e.what());
  }
  const uint64_t data_start = 8 + header_len, data_size = file_size - data_start;
  TensorMap out;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const json& e = it.value();
    XOMNI_CHECK(e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), path,
                ": header entry '", it.key(), "' lacks dtype/shape/data_offsets");
    const DType dt = parse_dtype(e["dtype"].get<std::string>(), path, it.key());
    const Shape shape = e["shape"].get<Shape>();
    const auto offs = e["data_offsets"].get<std::vector<uint64_t>>();
    const uint64_t nbytes = uint64_t(shape_numel(shape)) * dtype_size(dt);
    XOMNI_CHECK(offs.size() == 2 && offs[1] >= offs[0] && offs[1] - offs[0] == nbytes &&
                    offs[1] <= data_size,
                path, ": tensor '", it.key(), "' of shape ", shape_str(shape),
                " has inconsistent data_offsets (file truncated or corrupt?)");
    Tensor t = Tensor::empty(shape, dt);
    in.seekg(std::streamoff(data_start + offs[0]));
    in.read(static_cast<char*>(t.raw_data()), std::streamsize(nbytes));
    XOMNI_CHECK(in, path, ": short read for tensor '", it.key(), "'");
    out.emplace(it.key(), t);
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
  XOMNI_CHECK(j.contains("weight_map"), index.string(), ": no weight_map");
  std::map<std::string, std::vector<std::string>> by_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it)
    by_file[it.value().get<std::string>()].push_back(it.key());
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
