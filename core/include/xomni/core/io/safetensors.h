#pragma once
// Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}}, then raw little-endian data.
#include <map>
#include <string>

#include "xomni/core/tensor/tensor.h"

namespace xomni {

using TensorMap = std::map<std::string, Tensor>;

// One file. Supported dtypes: F64, F32, BF16, F16, I64, I32, U8, BOOL (as u8).
TensorMap load_safetensors(const std::string& path);
// A file, or a folder holding model.safetensors or model.safetensors.index.json (sharded).
TensorMap load_safetensors_any(const std::string& path);
void save_safetensors(const std::string& path, const TensorMap& tensors);

}  // namespace xomni
