#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "concise/engine/jobs.hpp"  // SolveOptions

namespace concise::cli {

// --l1, --tol, --solver, --device, --max-iter: the flags every solving command
// shares. Their defaults are SolveOptions' own (the one place defaults live).
inline void add_solve_flags(CLI::App& cmd, SolveOptions& options) {
  cmd.add_option("--l1", options.l1, "l1 penalty lambda (SpLiCE's l1_penalty; larger = sparser)")->capture_default_str();
  cmd.add_option("--tol", options.tol, "stop a row when its duality gap <= tol * objective")->capture_default_str();
  cmd.add_option_function<std::string>(
         "--solver", [&options](const std::string& name) { options.solver = parse_solver(name); },
         "auto, fista, admm or ws (working set)")
      ->default_str(to_string(options.solver));
  cmd.add_option("--device", options.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd.add_option("--max-iter", options.max_iterations, "iteration limit of FISTA and ADMM")->capture_default_str();
}

}  // namespace concise::cli
