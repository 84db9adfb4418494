#include "concise/solvers/duality_gap.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace concise {

Certificate certify_row(MatrixView<const float> atoms, const float* z, const float* w, double l1) {
  const std::int64_t c = atoms.rows, d = atoms.cols;
  std::vector<double> r(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) r[static_cast<std::size_t>(i)] = z[i];
  GapTerms t;
  for (std::int64_t k = 0; k < c; ++k) {
    if (w[k] == 0.0f) continue;
    t.sum_w += w[k];
    const float* a = atoms.row(k);
    for (std::int64_t i = 0; i < d; ++i) r[static_cast<std::size_t>(i)] -= static_cast<double>(w[k]) * a[i];
  }
  for (std::int64_t i = 0; i < d; ++i) {
    t.rr += r[static_cast<std::size_t>(i)] * r[static_cast<std::size_t>(i)];
    t.rz += r[static_cast<std::size_t>(i)] * z[i];
  }
  t.max_g = -std::numeric_limits<double>::infinity();
  for (std::int64_t k = 0; k < c; ++k) {
    const float* a = atoms.row(k);
    double g = 0;
    for (std::int64_t i = 0; i < d; ++i) g += static_cast<double>(a[i]) * r[static_cast<std::size_t>(i)];
    t.max_g = std::max(t.max_g, g);
  }
  return certify(t, l1);
}

}  // namespace concise
