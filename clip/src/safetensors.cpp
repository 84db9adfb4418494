#include "safetensors.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "concise/core/error.hpp"

namespace concise::clip::detail {
namespace {

torch::ScalarType scalar_type(const std::string& dtype, const std::string& where) {
  if (dtype == "F32") return torch::kFloat32;
  if (dtype == "F16") return torch::kFloat16;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kFloat64;
  throw InputError(where + " has dtype " + dtype + ", expected F32, F16, BF16 or F64");
}

void load_one_file(const std::string& path, TensorMap& tensors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open weights file " + in_quotes(path));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char length_bytes[8] = {};
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (!in || header_size > file_size - 8 || header_size > (100u << 20))
    throw InputError("weights file " + in_quotes(path) + " is not a safetensors file (bad header length)");
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json entries;
  try {
    entries = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("weights file " + in_quotes(path) + " has an unreadable safetensors header: " + e.what());
  }
  const std::uint64_t data_start = 8 + header_size;
  for (const auto& [name, entry] : entries.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor " + in_quotes(name) + " in " + in_quotes(path);
    try {
      const std::vector<std::int64_t> shape = entry.at("shape").get<std::vector<std::int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
      const torch::ScalarType type = scalar_type(entry.at("dtype").get<std::string>(), where);
      std::int64_t count = 1;
      for (const auto s : shape) count *= s;
      const std::uint64_t bytes = static_cast<std::uint64_t>(count) * torch::elementSize(type);
      if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != bytes ||
          data_start + offsets[1] > file_size)
        throw InputError(where + ": its byte range does not fit its shape or the file (truncated?)");
      torch::Tensor raw = torch::empty(shape, torch::TensorOptions().dtype(type));
      in.seekg(static_cast<std::streamoff>(data_start + offsets[0]));
      in.read(static_cast<char*>(raw.data_ptr()), static_cast<std::streamsize>(bytes));
      if (!in) throw InputError(where + ": read failed (truncated?)");
      tensors[name] = raw.to(torch::kFloat32);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where + ": malformed header entry: " + e.what());
    }
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
