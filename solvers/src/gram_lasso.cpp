#include "gram_lasso.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "concise/solvers/duality_gap.hpp"

namespace concise::cpu {

int solve_gram_lasso(const GramLasso& p, double tol, int max_sweeps, double* w) {
  const std::int64_t k = p.k;
  std::vector<double> q(static_cast<std::size_t>(k));  // G w - b
  for (std::int64_t i = 0; i < k; ++i) {
    double s = -p.b[i];
    for (std::int64_t j = 0; j < k; ++j) s += p.gram[i * k + j] * w[j];
    q[static_cast<std::size_t>(i)] = s;
  }
  int sweep = 0;
  while (sweep < max_sweeps) {
    ++sweep;
    for (std::int64_t j = 0; j < k; ++j) {
      const double diag = p.gram[j * k + j];
      if (diag <= 0) continue;
      const double next = std::max(0.0, w[j] - (2.0 * q[static_cast<std::size_t>(j)] + p.l1) / (2.0 * diag));
      const double delta = next - w[j];
      if (delta == 0) continue;
      w[j] = next;
      const double* column = p.gram + j * k;  // symmetric: row j is column j
      for (std::int64_t i = 0; i < k; ++i) q[static_cast<std::size_t>(i)] += delta * column[i];
    }
    if (sweep % 4 != 0 && sweep != max_sweeps) continue;
    GapTerms t;
    double wq = 0, wb = 0;
    t.max_g = -std::numeric_limits<double>::infinity();
    for (std::int64_t i = 0; i < k; ++i) {
      wq += w[i] * q[static_cast<std::size_t>(i)];
      wb += w[i] * p.b[i];
      t.sum_w += w[i];
      t.max_g = std::max(t.max_g, -q[static_cast<std::size_t>(i)]);
    }
    t.rr = p.zz + wq - wb;
    t.rz = p.zz - wb;
    if (certify(t, p.l1).converged(tol)) break;
  }
  return sweep;
}

}  // namespace concise::cpu
