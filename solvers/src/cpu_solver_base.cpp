#include "cpu_solver_base.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/solvers/threads.hpp"
#include "cpu_blas.hpp"

namespace concise::cpu {

CpuSolverBase::CpuSolverBase(MatrixView<const float> atoms, const SolveOptions& options)
    : Decomposer(options), atoms_(atoms), atom_norms_(static_cast<std::size_t>(atoms.rows)) {
  for (std::int64_t k = 0; k < atoms.rows; ++k) {
    double s = 0;
    for (std::int64_t i = 0; i < atoms.cols; ++i) s += static_cast<double>(atoms.row(k)[i]) * atoms.row(k)[i];
    atom_norms_[static_cast<std::size_t>(k)] = static_cast<float>(std::sqrt(s));
  }
}

GapTerms residual_terms(const float* z, const float* r, std::int64_t d) {
  GapTerms t;
  for (std::int64_t i = 0; i < d; ++i) {
    t.rr += static_cast<double>(r[i]) * r[i];
    t.rz += static_cast<double>(r[i]) * z[i];
  }
  return t;
}

float max_of(const float* x, std::int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (std::int64_t i = 0; i < n; ++i) m = m > x[i] ? m : x[i];
  return m;
}

namespace {
// A float64 dot product with independent partial sums, so that it vectorizes
// (inlined into each copy of dot64 below).
template <class Residual>
[[gnu::always_inline]] inline double dot64_of(const float* a, const Residual* r, std::int64_t d) {
  constexpr int kLanes = 8;
  double partial[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += static_cast<double>(a[i + l]) * static_cast<double>(r[i + l]);
  for (int l = 0; i < d; ++i, ++l) partial[l] += static_cast<double>(a[i]) * static_cast<double>(r[i]);
  double s = 0;
  for (double x : partial) s += x;
  return s;
}
CONCISE_VECTOR_CLONES double dot64(const float* a, const double* r, std::int64_t d) { return dot64_of(a, r, d); }
double dot64(const float* a, const float* r, std::int64_t d) { return dot64_of(a, r, d); }

template <class Residual>
double certified_max_of(const float* g, std::int64_t count, const Residual* r, const float* atoms, std::int64_t d,
                        float margin) {
  const float m = max_of(g, count);
  double best = -std::numeric_limits<double>::infinity();
  for (std::int64_t k = 0; k < count; ++k)
    if (g[k] >= m - margin) best = std::max(best, dot64(atoms + k * d, r, d));
  return best;
}
}  // namespace

double certified_max(const float* g, std::int64_t count, const float* r, const float* atoms, std::int64_t d) {
  return certified_max_of(g, count, r, atoms, d, rules::certified_max_margin(max_of(g, count)));
}

double certified_max(const float* g, std::int64_t count, const double* r, const float* atoms, std::int64_t d) {
  return certified_max_of(g, count, r, atoms, d, rules::certified_max_margin(max_of(g, count)));
}

double certified_max(const float* g, std::int64_t count, const double* r, const float* atoms, std::int64_t d,
                     float margin) {
  return certified_max_of(g, count, r, atoms, d, margin);
}

void residuals(const float* z, const float* w, const float* atoms, float* r, std::int64_t rows, std::int64_t c,
               std::int64_t d) {
  std::memcpy(r, z, sizeof(float) * static_cast<std::size_t>(rows * d));
  gemm_ab(w, atoms, r, rows, d, c, -1.0f, 1.0f);
}

void CpuSolverBase::record(RowProblem& p, std::int64_t row, const Certificate& cert, std::int32_t iterations) const {
  const auto i = static_cast<std::size_t>(row);
  p.result->gap[i] = static_cast<float>(cert.gap);
  p.result->objective[i] = static_cast<float>(cert.objective);
  p.result->iterations[i] = iterations;
}

void CpuSolverBase::record_iterative(RowProblem& p, std::int64_t row, const Certificate& cert,
                                     std::int32_t iterations) const {
  record(p, row, cert, iterations);
  p.result->at_limit[static_cast<std::size_t>(row)] =
      iterations >= options_.max_iterations && !cert.converged(options_.tol) ? 1 : 0;
}

void CpuSolverBase::store_dense(RowProblem& p, std::int64_t row, const float* w, std::int64_t count,
                                const std::int64_t* atom_ids) {
  RowCode& code = (*p.codes)[static_cast<std::size_t>(row)];
  code.atoms.clear();
  code.weights.clear();
  for (std::int64_t k = 0; k < count; ++k) {
    if (w[k] <= 0.0f) continue;
    code.atoms.push_back(static_cast<std::int32_t>(atom_ids ? atom_ids[k] : k));
    code.weights.push_back(w[k]);
  }
}

void CpuSolverBase::correlate(RowProblem& p, std::int64_t first, std::int64_t count) {
  gemm_abt(p.z.row(first), atoms_.data, b_.data() + first * atoms_.rows, count, atoms_.rows, atoms_.cols, 1.0f, 0.0f);
}

bool CpuSolverBase::solve_needed(RowProblem& p, std::int64_t row, float max_correlation) const {
  // Target sparsity starts every row at lambda_max, where w = 0 is optimal.
  if (options_.l0 > 0 ? max_correlation > 0 : !rules::zero_is_optimal(max_correlation, options_.l1)) return true;
  // lambda/2 >= max_k (C z)_k: w = 0 is optimal
  GapTerms t = residual_terms(p.z.row(row), p.z.row(row), atoms_.cols);
  t.max_g = max_correlation;
  const double l1 = options_.l0 > 0 ? 0.0 : options_.l1;
  record(p, row, certify(t, l1), 0);
  p.result->l1[static_cast<std::size_t>(row)] = static_cast<float>(l1);
  return false;
}

void CpuSolverBase::solve(MatrixView<const float> z, SolveResult& result) {
  const std::int64_t n = z.rows, c = atoms_.rows, d = atoms_.cols;
  if (z.cols != d)
    throw InputError("rows have dimension " + std::to_string(z.cols) + ", expected " + std::to_string(d) +
                     " (the dictionary's)");
  const ScopedSolverThreads threads(options_.threads);
  result.gap.assign(static_cast<std::size_t>(n), 0.0f);
  result.objective.assign(static_cast<std::size_t>(n), 0.0f);
  result.iterations.assign(static_cast<std::size_t>(n), 0);
  result.l1.assign(static_cast<std::size_t>(n), static_cast<float>(options_.l1));
  result.at_limit.assign(static_cast<std::size_t>(n), 0);

  b_.resize(static_cast<std::size_t>(n * c));
  codes_.resize(static_cast<std::size_t>(n));
  RowProblem problem{z, {b_.data(), n, c}, {}, &codes_, &result};
  if (correlates_in_blocks()) {
    problem.rows.resize(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r) {
      problem.rows[static_cast<std::size_t>(r)] = r;
      codes_[static_cast<std::size_t>(r)].atoms.clear();
      codes_[static_cast<std::size_t>(r)].weights.clear();
    }
    if (n > 0) solve_rows(problem);
  } else {
    gemm_abt(z.data, atoms_.data, b_.data(), n, c, d, 1.0f, 0.0f);
    row_max_.resize(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n; ++r) {
      row_max_[static_cast<std::size_t>(r)] = max_of(problem.b.row(r), c);
      codes_[static_cast<std::size_t>(r)].atoms.clear();
      codes_[static_cast<std::size_t>(r)].weights.clear();
    }
    for (std::int64_t r = 0; r < n; ++r)
      if (solve_needed(problem, r, row_max_[static_cast<std::size_t>(r)])) problem.rows.push_back(r);
    if (!problem.rows.empty()) solve_rows(problem);
  }

  result.codes.clear(c);
  for (const RowCode& code : codes_) result.codes.append_row(code.atoms.data(), code.weights.data(), code.atoms.size());
}

}  // namespace concise::cpu

namespace concise {

double spectral_norm_squared(MatrixView<const float> atoms) {
  const std::int64_t d = atoms.cols;
  std::vector<float> m(static_cast<std::size_t>(d * d));
  cpu::gram_ata(atoms.data, m.data(), atoms.rows, d);
  std::vector<double> v(static_cast<std::size_t>(d), 1.0), next(static_cast<std::size_t>(d));
  double estimate = 0;
  for (int it = 0; it < 200; ++it) {
    double norm = 0;
    for (std::int64_t i = 0; i < d; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) s += static_cast<double>(m[static_cast<std::size_t>(i * d + j)]) * v[static_cast<std::size_t>(j)];
      next[static_cast<std::size_t>(i)] = s;
      norm += s * s;
    }
    norm = std::sqrt(norm);
    if (norm == 0) return 0;
    for (std::int64_t i = 0; i < d; ++i) v[static_cast<std::size_t>(i)] = next[static_cast<std::size_t>(i)] / norm;
    const double previous = estimate;
    estimate = norm;
    if (it > 10 && std::abs(estimate - previous) <= 1e-7 * estimate) break;
  }
  return estimate * 1.01;  // power iteration approaches from below
}

}  // namespace concise
