#include "decompose_on_cluster.hpp"

#include <cstdio>
#include <filesystem>
#include <utility>

#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "python_delegate.hpp"

namespace concise::cli {

namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// The flags of the single-machine command that have no meaning on a cluster, and why.
void refuse_local_flags(const CLI::App& cmd) {
  const std::pair<const char*, const char*> refused[] = {
      {"--images", "embed the photos first (concise embed), then give the embeddings as shards"},
      {"--recursive", "it belongs to --images"},
      {"--model", "it belongs to --images"},
      {"--batch", "it belongs to --images"},
      {"--bpe", "it belongs to --images"},
      {"--max-chunks", "each shard is one task; stop the run (Ctrl-C) and rerun the same command to resume"},
      {"--max-iter", "the workers use the default iteration limit"},
  };
  for (const auto& [flag, why] : refused)
    if (cmd.get_option(flag)->count() > 0)
      throw InputError(std::string(flag) + " does not apply with --scheduler: " + why);
}

void check_output_folder(const ClusterJob& cluster) {
  namespace fs = std::filesystem;
  const std::string& output = cluster.job.output;
  const std::string ext = fs::path(output).extension().string();
  const bool file = fs::exists(output) && !fs::is_directory(output);
  if (file || ext == ".h5" || ext == ".hdf5")
    throw InputError("with --scheduler, --output is a folder (one codes file per shard and manifest.json), not a " +
                     std::string(file ? "file: " : ".h5 name: ") + output);
  std::error_code ec;
  for (const auto& shard : cluster.shards)
    if (fs::equivalent(shard, output, ec))
      throw InputError("--output " + output + " is also a shard; give another folder");
}

}  // namespace

void decompose_on_cluster(const CLI::App& cmd, const ClusterJob& cluster) {
  refuse_local_flags(cmd);
  if (cluster.shards.empty())
    throw InputError("decompose --scheduler needs the shards: .npy or HDF5 files, clip-retrieval folders, or a quoted "
                     "glob such as 'laion/img_emb_*.npy'");
  check_output_folder(cluster);
  const SolveOptions& options = cluster.job.options;
  options.validate();
  Dictionary::load(cluster.dictionary);  // the same errors as on one machine, before Python starts

  std::vector<std::string> args{"decompose"};
  args.insert(args.end(), cluster.shards.begin(), cluster.shards.end());
  args.insert(args.end(), {"--dictionary", cluster.dictionary, "--output", cluster.job.output, "--scheduler",
                           cluster.scheduler, "--dataset", cluster.job.dataset, "--tol", number(options.tol),
                           "--solver", to_string(options.solver), "--device", options.device, "--chunk",
                           std::to_string(cluster.job.chunk), "--max-rounds", std::to_string(options.max_rounds),
                           "--threads", std::to_string(options.threads)});
  if (options.l0 > 0)
    args.insert(args.end(), {"--l0", std::to_string(options.l0), "--l0-ratio", number(options.l0_ratio)});
  else
    args.insert(args.end(), {"--l1", number(options.l1)});
  if (cluster.quiet) args.push_back("--quiet");
  run_python_module("dask", args, "concise", {"dask.distributed", "dask[distributed]", ".[dask]"});
}

}  // namespace concise::cli
