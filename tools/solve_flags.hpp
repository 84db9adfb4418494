#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "concise/engine/jobs.hpp"  // SolveOptions

namespace concise::cli {

// --l1 or --l0, --tol, --solver, --device, --max-iter, --max-rounds, --threads: the
// flags every solving command shares. Their defaults are SolveOptions' own (the one
// place defaults live).
inline void add_solve_flags(CLI::App& cmd, SolveOptions& options) {
  auto* l1 = cmd.add_option("--l1", options.l1,
                            "l1 penalty lambda (SpLiCE's l1_penalty; larger = sparser; 0 is refused: plain NNLS has "
                            "no certified gap)")
                 ->capture_default_str();
  auto* l0 = cmd.add_option("--l0", options.l0,
                            "instead of --l1: at most K atoms per row, with each row's smallest lambda on the grid "
                            "lambda_max * ratio^j that gives at most K (stored in /stats/l1)");
  l0->excludes(l1);
  cmd.add_option("--l0-ratio", options.l0_ratio, "--l0: ratio of the lambda grid, in (0, 1)")->capture_default_str();
  cmd.add_option("--tol", options.tol, "stop a row when its duality gap <= tol * objective")->capture_default_str();
  cmd.add_option_function<std::string>(
         "--solver", [&options](const std::string& name) { options.solver = parse_solver(name); },
         "auto, fista, admm or ws (working set)")
      ->default_str(to_string(options.solver));
  cmd.add_option("--device", options.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd.add_option("--max-iter", options.max_iterations, "iteration limit of FISTA and ADMM")->capture_default_str();
  cmd.add_option("--threads", options.threads, "CPU solver threads (0: OMP_NUM_THREADS if set, else all cores)")
      ->capture_default_str();
  cmd.add_option("--max-rounds", options.max_rounds,
                 "round limit of the working-set solver (full correlation passes per row and lambda)")
      ->capture_default_str();
}

}  // namespace concise::cli
