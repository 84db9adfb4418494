#include <cstdio>

#include "commands.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/engine/jobs.hpp"
#include "solve_flags.hpp"

namespace concise::cli {

void print_summary(const DecomposeSummary& s, const std::string& output) {
  if (!s.complete) {
    std::printf("stopped after %lld of %lld rows; %s.partial holds them, rerun the same command to resume\n",
                static_cast<long long>(s.rows_done), static_cast<long long>(s.rows), output.c_str());
    return;
  }
  std::printf("wrote %s: %lld rows (%lld this run%s) in %.3f s, %.0f rows/s with %s; mean l0 %.2f, mean cosine %.4f\n",
              output.c_str(), static_cast<long long>(s.rows), static_cast<long long>(s.rows_this_run),
              s.resumed ? ", resumed" : "", s.seconds, s.seconds > 0 ? static_cast<double>(s.rows_this_run) / s.seconds : 0.0,
              s.solver.c_str(), s.mean_l0, s.mean_cosine);
  if (s.not_converged > 0)
    std::printf("note: %lld rows stopped at the iteration limit above tol; /stats/gap holds their certified gaps\n",
                static_cast<long long>(s.not_converged));
}

void add_decompose_command(CLI::App& app) {
  struct Args {
    DecomposeJob job;
    std::string dictionary;
    std::string solver = "auto";
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("decompose", "embeddings -> sparse nonnegative concept codes (CSR, HDF5)");
  cmd->add_option("input", args->job.input, "embeddings: HDF5 file, .npy file, or folder of .npy shards")->required();
  cmd->add_option("--dataset", args->job.dataset, "dataset path inside an HDF5 input")->capture_default_str();
  cmd->add_option("--dictionary", args->dictionary, "dictionary file (.h5) from `concise dictionary build`")->required();
  add_solve_flags(*cmd, args->job.options, args->solver, args->job.device);
  cmd->add_option("--chunk", args->job.chunk, "rows per chunk (default: from the dictionary size)");
  cmd->add_option("--max-chunks", args->job.max_chunks, "stop after N chunks; rerun to resume");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress line");
  cmd->add_option("-o,--output", args->job.output, "codes file (.h5)")->required();
  cmd->callback([args] {
    args->job.options.solver = parse_solver(args->solver);
    args->job.progress = !args->quiet;
    const Dictionary dict = Dictionary::load(args->dictionary);
    print_summary(decompose_file(args->job, dict), args->job.output);
  });
}

}  // namespace concise::cli
