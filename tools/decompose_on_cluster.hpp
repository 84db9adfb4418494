#pragma once
// `concise decompose --scheduler ADDRESS`: the same job over many shards on a Dask
// cluster, run by the concise.dask Python module (one codes file per shard and a manifest).
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "concise/engine/jobs.hpp"

namespace concise::cli {

struct ClusterJob {
  std::string scheduler;            // tcp://HOST:PORT
  std::vector<std::string> shards;  // files, clip-retrieval folders or quoted globs
  std::string dictionary;
  DecomposeJob job;                 // output (a folder), dataset, options, chunk
  bool quiet = false;
};

// Refuses the flags of `decompose` that do not apply on a cluster (cmd holds them), checks
// the rest, then replaces this process with Python's concise.dask.
[[noreturn]] void decompose_on_cluster(const CLI::App& cmd, const ClusterJob& cluster);

}  // namespace concise::cli
