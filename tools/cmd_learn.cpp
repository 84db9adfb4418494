// `concise dictionary learn`: online nonnegative dictionary learning, free or on
// top of a vocabulary dictionary whose atoms stay fixed.
#include <cstdio>

#include "commands.hpp"
#include "concise/core/error.hpp"
#include "concise/learn/learn_file.hpp"

namespace concise::cli {

void add_learn_command(CLI::App& dictionary) {
  struct Args {
    learn::LearnJob job;
    std::string solver = "auto";
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->job.options;
  o.atoms = 0;
  auto* cmd = dictionary.add_subcommand(
      "learn", "learn K atoms from embeddings (free), or K residual atoms added to a fixed dictionary (--init)");
  cmd->add_option("embeddings", args->job.input, "embeddings: HDF5 file, .npy file, or folder of .npy shards")->required();
  cmd->add_option("--dataset", args->job.dataset, "dataset path inside an HDF5 input")->capture_default_str();
  cmd->add_option("--init", args->job.init,
                  "dictionary (.h5) whose atoms stay fixed, bit for bit; the learned atoms are added after them");
  cmd->add_option("--atoms", o.atoms, "K, the atoms to learn")->required();
  auto* l1 = cmd->add_option("--l1", o.solve.l1, "l1 penalty lambda of the codes (larger = sparser)")->capture_default_str();
  cmd->add_option("--l0", o.solve.l0,
                  "instead of --l1: at most K atoms per code, each row's lambda the smallest on the grid "
                  "lambda_max * ratio^j that gives at most K (as decompose --l0)")
      ->excludes(l1);
  cmd->add_option("--l0-ratio", o.solve.l0_ratio, "--l0: ratio of the lambda grid, in (0, 1)")->capture_default_str();
  cmd->add_option("--tol", o.solve.tol, "stop each code when its duality gap <= tol * objective")->capture_default_str();
  cmd->add_option("--solver", args->solver, "auto, fista, admm or ws (working set)")->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "passes over the rows")->capture_default_str();
  cmd->add_option("--batch", o.batch, "rows per dictionary update; as many as the rows or more: batch mode")
      ->capture_default_str();
  cmd->add_option("--forget", o.forget, "rho: statistics decay by (1 - 1/t)^rho before mini-batch t")->capture_default_str();
  cmd->add_option("--device", o.device, "auto, cpu, cuda or cuda:N (codes and dictionary update)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of every random choice (initial rows, row order)")->capture_default_str();
  cmd->add_option("--chunk", o.chunk, "rows read and solved at once (default: from the number of atoms)");
  cmd->add_option("--vocabulary", args->job.vocabulary, "free mode: a dictionary (.h5) to name the learned atoms by");
  cmd->add_option("--image-mean", args->job.image_mean,
                  "free mode: the modality mean [d] (.npy) to center the embeddings with (--init: the dictionary's)");
  cmd->add_option("--stop-after-epochs", args->job.stop_after_epochs, "stop after N epochs of this run; rerun to resume")
      ->group("");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress");
  cmd->add_option("-o,--output", args->job.output, "the learned dictionary (.h5)")->required();
  cmd->callback([args] {
    args->job.options.solve.solver = parse_solver(args->solver);
    args->job.progress = !args->quiet;
    const learn::LearnSummary s = learn::learn_file(args->job);
    if (!s.complete) {
      std::printf("stopped after epoch %d of %d; %s holds the state, rerun the same command to resume\n", s.epochs_done,
                  args->job.options.epochs, s.checkpoint.c_str());
      return;
    }
    std::printf("wrote %s: %lld fixed + %lld learned atoms from %lld rows in %d epochs%s on %s, %.1f s; "
                "objective %.6f per row, mean l0 %.2f (%.2f learned)\n",
                args->job.output.c_str(), static_cast<long long>(s.fixed_atoms), static_cast<long long>(s.learned_atoms),
                static_cast<long long>(s.rows), s.epochs_done, s.resumed ? " (resumed)" : "", s.device.c_str(), s.seconds,
                s.final_pass.objective, s.final_pass.mean_l0, s.final_pass.mean_learned_l0);
  });
}

}  // namespace concise::cli
