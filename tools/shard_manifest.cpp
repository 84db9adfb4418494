#include "shard_manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "concise/core/error.hpp"

namespace concise::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kManifestName = "manifest.json";
constexpr const char* kFormat = "concise-sharded-codes";

std::string manifest_file(const std::string& path) {
  const bool folder = fs::is_directory(path) || (!path.empty() && path.back() == '/');
  return folder ? (fs::path(path) / kManifestName).lexically_normal().string() : path;
}

json parse_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw InputError("manifest " + in_quotes(path) + ": no such file (expected the " + kManifestName +
                     " that `concise decompose --scheduler` writes)");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError("manifest " + in_quotes(path) + ": is not JSON (" + e.what() + ")");
  }
}

ManifestShard read_shard(const json& entry, std::size_t index, const std::string& path, const fs::path& folder) {
  const std::string where = "manifest " + in_quotes(path) + ", shard " + std::to_string(index);
  if (!entry.is_object() || !entry.contains("codes") || !entry["codes"].is_string())
    throw InputError(where + ": has no codes file name");
  ManifestShard shard;
  shard.codes = entry["codes"].get<std::string>();
  shard.codes_path = (folder / shard.codes).string();
  const json input = entry.value("input", json());
  const std::string named = input.is_string() ? " (" + input.get<std::string>() + ")" : "";
  if (!entry.contains("rows") || !entry["rows"].is_number_integer() || entry.value("sha256", json()).is_null())
    throw InputError(where + named + ": is not finished; rerun `concise decompose --scheduler` to complete it");
  shard.rows = entry["rows"].get<std::int64_t>();
  if (shard.rows < 0) throw InputError(where + ": has " + std::to_string(shard.rows) + " rows, expected 0 or more");
  return shard;
}

}  // namespace

bool ShardManifest::is_manifest(const std::string& path) {
  return fs::is_directory(path) || (!path.empty() && path.back() == '/') || fs::path(path).extension() == ".json";
}

ShardManifest ShardManifest::read(const std::string& path) {
  ShardManifest manifest;
  manifest.path = manifest_file(path);
  const json body = parse_manifest(manifest.path);
  if (!body.is_object() || body.value("format", json()) != kFormat)
    throw InputError("manifest " + in_quotes(manifest.path) + ": is not a concise shard manifest (expected format " +
                     in_quotes(kFormat) + ")");
  if (!body.contains("shards") || !body["shards"].is_array() || body["shards"].empty())
    throw InputError("manifest " + in_quotes(manifest.path) + ": lists no shards");
  const fs::path folder = fs::absolute(manifest.path).parent_path();
  for (std::size_t i = 0; i < body["shards"].size(); ++i) {
    ManifestShard shard = read_shard(body["shards"][i], i, manifest.path, folder);
    shard.first_row = manifest.rows;
    manifest.rows += shard.rows;
    manifest.shards.push_back(std::move(shard));
  }
  return manifest;
}

std::vector<ManifestShard> ShardManifest::shards_with_rows(std::int64_t first, std::int64_t last) const {
  std::vector<ManifestShard> out;
  std::copy_if(shards.begin(), shards.end(), std::back_inserter(out), [&](const ManifestShard& s) {
    return s.rows > 0 && s.first_row < last && first < s.first_row + s.rows;
  });
  return out;
}

}  // namespace concise::cli
