#include "concise/solvers/options.hpp"

#include <cmath>
#include <cstdio>

#include "concise/core/error.hpp"
#include "concise/solvers/rules.hpp"

namespace concise {
namespace {

std::string shortest(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

}  // namespace

std::string to_string(SolverKind kind) {
  switch (kind) {
    case SolverKind::Auto: return "auto";
    case SolverKind::Fista: return "fista";
    case SolverKind::Admm: return "admm";
    case SolverKind::WorkingSet: return "ws";
  }
  return "auto";
}

SolverKind parse_solver(const std::string& name) {
  if (name == "auto") return SolverKind::Auto;
  if (name == "fista") return SolverKind::Fista;
  if (name == "admm") return SolverKind::Admm;
  if (name == "ws" || name == "working-set") return SolverKind::WorkingSet;
  throw InputError("solver " + in_quotes(name) + " is unknown, expected auto, fista, admm or ws");
}

void SolveOptions::validate() const {
  if (!std::isfinite(l1) || l1 < 0) throw InputError("l1 must be a finite number >= 0, got " + std::to_string(l1));
  if (l0 < 0) throw InputError("l0 must be a positive number of atoms, got " + std::to_string(l0));
  if (l0 == 0 && l1 == 0)
    throw InputError("l1 = 0 (plain nonnegative least squares) has no certified duality gap and dense codes; use l1 >= " +
                     shortest(rules::kSmallestUsefulL1) + " (the smallest useful lambda), or l0 = K atoms per row");
  if (l0 > 0 && !(l0_ratio > 0 && l0_ratio < 1))
    throw InputError("l0_ratio must be in (0, 1), got " + std::to_string(l0_ratio));
  if (l0 > 0 && solver != SolverKind::Auto && solver != SolverKind::WorkingSet)
    throw InputError("l0 (target sparsity) runs on the working-set solver (auto or ws), not " + to_string(solver));
  if (!std::isfinite(tol) || tol <= 0) throw InputError("tol must be a finite number > 0, got " + std::to_string(tol));
  if (max_iterations < 1) throw InputError("max_iterations must be >= 1");
  if (max_rounds < 1) throw InputError("max_rounds must be >= 1");
  if (threads < 0) throw InputError("threads must be 0 (all cores) or positive, got " + std::to_string(threads));
  if (check_every < 1) throw InputError("check_every must be >= 1");
  if (gpu_batch_rows < 0) throw InputError("gpu_batch_rows must be 0 (automatic) or positive");
}

}  // namespace concise
