#pragma once
// The nonnegative lasso restricted to a small working set, in Gram form and float64:
//   minimize  w^T G w - 2 b^T w + lambda * sum(w) + ||z||^2,  w >= 0
// with G = C_S C_S^T and b = C_S z, by cyclic coordinate descent until the
// sub-problem's own duality gap is below tol * F (or max_sweeps).
#include <cstdint>

namespace concise::cpu {

struct GramLasso {
  const double* gram;  // k x k
  const double* b;     // k
  std::int64_t k;
  double zz;           // ||z||^2
  double l1;
};

// Improves w (k, warm start) in place; returns the sweeps it took.
int solve_gram_lasso(const GramLasso& problem, double tol, int max_sweeps, double* w);

}  // namespace concise::cpu
