#pragma once
// The CPU solvers' thread count, set for one call and restored after it: a process
// that also runs torch (or anything else on OpenMP) keeps its own setting, and the
// solver does not oversubscribe cores another pool is using.
namespace concise {

class ScopedSolverThreads {
 public:
  // threads <= 0 leaves the current setting.
  explicit ScopedSolverThreads(int threads);
  ~ScopedSolverThreads();
  ScopedSolverThreads(const ScopedSolverThreads&) = delete;
  ScopedSolverThreads& operator=(const ScopedSolverThreads&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace concise
