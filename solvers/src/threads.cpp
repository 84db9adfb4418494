#include "concise/solvers/threads.hpp"

#include <omp.h>

namespace concise {

ScopedSolverThreads::ScopedSolverThreads(int threads) {
  if (threads <= 0) return;
  previous_ = omp_get_max_threads();
  omp_set_num_threads(threads);
}

ScopedSolverThreads::~ScopedSolverThreads() {
  if (previous_ > 0) omp_set_num_threads(previous_);
}

}  // namespace concise
