#include "concise/solvers/threads.hpp"

#include <omp.h>

#include <cstdlib>

namespace concise {

int solver_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr && std::atoi(env) > 0) return std::atoi(env);
  return omp_get_num_procs();
}

ScopedSolverThreads::ScopedSolverThreads(int requested) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(solver_threads(requested));
}

ScopedSolverThreads::~ScopedSolverThreads() { omp_set_num_threads(previous_); }

}  // namespace concise
