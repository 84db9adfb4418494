#pragma once
// The manifest.json that `concise decompose --scheduler` writes beside the shards' codes
// files (bindings/python/concise/dask.py): the shards in order, each with its codes file
// and row count, so that readers take the folder as one codes set with global row numbers.
#include <cstdint>
#include <string>
#include <vector>

namespace concise::cli {

struct ManifestShard {
  std::string codes;       // the codes file's name in the manifest's folder
  std::string codes_path;  // the same, with the folder
  std::int64_t first_row = 0;  // its first global row
  std::int64_t rows = 0;
};

struct ShardManifest {
  std::string path;  // manifest.json itself
  std::vector<ManifestShard> shards;
  std::int64_t rows = 0;  // over every shard

  // A folder holding manifest.json, or a .json file: read as a manifest, not a codes file.
  static bool is_manifest(const std::string& path);
  // Refuses, naming the manifest, what is not a finished concise shard manifest.
  static ShardManifest read(const std::string& path);
  // The shards holding some of the global rows [first, last).
  std::vector<ManifestShard> shards_with_rows(std::int64_t first, std::int64_t last) const;
};

}  // namespace concise::cli
