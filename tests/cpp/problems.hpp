#pragma once
// Random nonnegative lasso problems and an independent float64 reference solver
// (coordinate descent on the full Gram matrix) for the solver tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/core/synthetic.hpp"
#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/rules.hpp"

namespace concise::testing {

struct Problem {
  Dictionary dict;
  Matrix<float> z;  // preprocessed rows
};

// Correlated atoms (a shared direction plus a low-rank part plus noise), centered
// like a real dictionary; rows are sparse mixtures of atoms plus noise.
inline Problem random_problem(std::int64_t c, std::int64_t d, std::int64_t n, unsigned seed) {
  SyntheticSpec spec;
  spec.concepts = c;
  spec.dim = d;
  spec.rows = n;
  spec.rank = 8;
  spec.shared = 3.0f;
  spec.low_rank = 0.6f;
  spec.atom_noise = 0.5f;
  spec.atoms_per_row = 4;
  spec.row_noise = 0.3f;
  spec.seed = seed;
  SyntheticProblem p = make_synthetic_problem(spec);
  return {std::move(p.dict), std::move(p.rows)};
}

// F* for one row, by float64 coordinate descent until the change stalls.
inline double reference_objective(const Dictionary& dict, const float* z, double l1) {
  const std::int64_t c = dict.size(), d = dict.dim();
  std::vector<double> gram(static_cast<std::size_t>(c * c)), b(static_cast<std::size_t>(c));
  for (std::int64_t i = 0; i < c; ++i) {
    b[static_cast<std::size_t>(i)] = dot(dict.atoms.row(i), z, d);
    for (std::int64_t j = 0; j <= i; ++j)
      gram[static_cast<std::size_t>(i * c + j)] = gram[static_cast<std::size_t>(j * c + i)] =
          dot(dict.atoms.row(i), dict.atoms.row(j), d);
  }
  std::vector<double> w(static_cast<std::size_t>(c), 0.0), q(b);
  for (auto& v : q) v = -v;
  for (int sweep = 0; sweep < 20000; ++sweep) {
    double largest = 0;
    for (std::int64_t j = 0; j < c; ++j) {
      const auto jj = static_cast<std::size_t>(j);
      const double next = std::max(0.0, w[jj] - (2.0 * q[jj] + l1) / (2.0 * gram[jj * static_cast<std::size_t>(c) + jj]));
      const double delta = next - w[jj];
      if (delta == 0) continue;
      largest = std::max(largest, std::abs(delta));
      w[jj] = next;
      for (std::int64_t i = 0; i < c; ++i) q[static_cast<std::size_t>(i)] += delta * gram[jj * static_cast<std::size_t>(c) + static_cast<std::size_t>(i)];
    }
    if (largest < 1e-13) break;
  }
  const double zz = dot(z, z, d);
  double wq = 0, wb = 0, sum = 0;
  for (std::int64_t j = 0; j < c; ++j) {
    const auto jj = static_cast<std::size_t>(j);
    wq += w[jj] * q[jj];
    wb += w[jj] * b[jj];
    sum += w[jj];
  }
  return zz + wq - wb + l1 * sum;  // ||z - C^T w||^2 + l1 sum(w)
}

// F(w) in float64 for one CSR row.
inline double objective_of(const Dictionary& dict, const float* z, const SparseRows& codes, std::int64_t row,
                           double l1) {
  const std::int64_t d = dict.dim();
  std::vector<double> r(z, z + d);
  double sum = 0;
  for (auto p = codes.indptr[static_cast<std::size_t>(row)]; p < codes.indptr[static_cast<std::size_t>(row) + 1]; ++p) {
    const double w = codes.data[static_cast<std::size_t>(p)];
    sum += w;
    const float* a = dict.atoms.row(codes.indices[static_cast<std::size_t>(p)]);
    for (std::int64_t i = 0; i < d; ++i) r[static_cast<std::size_t>(i)] -= w * a[i];
  }
  double rr = 0;
  for (double v : r) rr += v * v;
  return rr + l1 * sum;
}

// Expects each row to be marked at limit exactly when it stopped short of tol (its
// reported gap above tol * F); returns how many are marked.
inline std::int64_t count_marked_at_limit(const SolveResult& result, double tol) {
  std::int64_t marked = 0;
  for (std::size_t i = 0; i < result.gap.size(); ++i) {
    const bool converged = rules::reported_converged(result.gap[i], result.objective[i], tol);
    marked += result.at_limit[i];
    EXPECT_EQ(result.at_limit[i] != 0, !converged) << "row " << i;
  }
  return marked;
}

}  // namespace concise::testing
