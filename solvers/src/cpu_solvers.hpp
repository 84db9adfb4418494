#pragma once
#include <memory>

#include "cpu_solver_base.hpp"

namespace concise::cpu {

std::unique_ptr<Decomposer> make_cpu_fista(MatrixView<const float> atoms, const SolveOptions& options);
std::unique_ptr<Decomposer> make_cpu_admm(MatrixView<const float> atoms, const SolveOptions& options);
std::unique_ptr<Decomposer> make_cpu_working_set(MatrixView<const float> atoms, const SolveOptions& options);

}  // namespace concise::cpu
