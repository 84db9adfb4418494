#pragma once
// The solve settings every Python entry point takes, in one place.
#include <string>

#include "concise/solvers/options.hpp"

namespace concise::python {

inline SolveOptions solve_options(double l1, double tol, const std::string& solver, int l0, double l0_ratio) {
  SolveOptions options;
  options.l1 = l1;
  options.tol = tol;
  options.solver = parse_solver(solver);
  options.l0 = l0;
  options.l0_ratio = l0_ratio;
  return options;
}

}  // namespace concise::python
