#include "cpu_solvers.hpp"

namespace concise {

std::unique_ptr<Decomposer> make_cpu_decomposer(MatrixView<const float> atoms, const SolveOptions& options) {
  switch (options.solver) {
    case SolverKind::Fista: return cpu::make_cpu_fista(atoms, options);
    case SolverKind::Admm: return cpu::make_cpu_admm(atoms, options);
    case SolverKind::Auto:
    case SolverKind::WorkingSet: return cpu::make_cpu_working_set(atoms, options);
  }
  return cpu::make_cpu_working_set(atoms, options);
}

}  // namespace concise
