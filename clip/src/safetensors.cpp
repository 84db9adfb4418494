#include "safetensors.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "concise/core/error.hpp"
#include "safetensors_header.hpp"

namespace concise::clip::detail {
namespace {

torch::ScalarType scalar_type(const std::string& dtype) {
  if (dtype == "F16") return torch::kFloat16;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kFloat64;
  return torch::kFloat32;  // the header parser admits only these four
}

void load_one_file(const std::string& path, TensorMap& tensors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open weights file " + in_quotes(path));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  for (const SafetensorsEntry& entry : read_safetensors_header(in, file_size, path)) {
    torch::Tensor raw = torch::empty(entry.shape, torch::TensorOptions().dtype(scalar_type(entry.dtype)));
    in.seekg(static_cast<std::streamoff>(entry.offset));
    in.read(static_cast<char*>(raw.data_ptr()), static_cast<std::streamsize>(entry.bytes));
    if (!in)
      throw InputError("tensor " + in_quotes(entry.name) + " in " + in_quotes(path) + ": read failed (truncated?)");
    tensors[entry.name] = raw.to(torch::kFloat32);
  }
}

}  // namespace

TensorMap load_safetensors(const std::string& path) {
  TensorMap tensors;
  if (path.size() < 11 || path.compare(path.size() - 11, 11, ".index.json") != 0) {
    load_one_file(path, tensors);
    return tensors;
  }
  std::ifstream in(path);
  if (!in) throw InputError("cannot open " + in_quotes(path));
  std::set<std::string> shards;
  try {
    for (const auto& [name, shard] : nlohmann::json::parse(in).at("weight_map").items())
      shards.insert(shard.get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(in_quotes(path) + " is not a safetensors index (expected a weight_map): " + e.what());
  }
  const auto folder = std::filesystem::path(path).parent_path();
  for (const auto& shard : shards) load_one_file((folder / shard).string(), tensors);
  return tensors;
}

}  // namespace concise::clip::detail
