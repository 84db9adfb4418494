#pragma once
// Reads safetensors files (an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the bytes) into float32
// CPU tensors.
#include <torch/types.h>

#include <map>
#include <string>

namespace concise::clip::detail {

using TensorMap = std::map<std::string, torch::Tensor>;

// One file, or every shard named by a model.safetensors.index.json.
TensorMap load_safetensors(const std::string& path);

}  // namespace concise::clip::detail
