#pragma once
// The CPU solvers' thread count, set for one call and restored after it. Importing
// torch sets OpenMP's thread count process-wide (to its count of physical cores,
// 1 on a 2-vCPU machine), which halved the solver's speed when it simply inherited
// it; and torch keeps its own setting after a solve.
namespace concise {

// The threads a solve uses: `requested` when > 0; else OMP_NUM_THREADS when the
// user set it; else every processor.
int solver_threads(int requested);

class ScopedSolverThreads {
 public:
  explicit ScopedSolverThreads(int requested);
  ~ScopedSolverThreads();
  ScopedSolverThreads(const ScopedSolverThreads&) = delete;
  ScopedSolverThreads& operator=(const ScopedSolverThreads&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace concise
