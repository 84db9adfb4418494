#pragma once
// What the CPU solvers share: the correlation pass B = Z C^T, certification of
// the rows whose optimum is w = 0, per-row gap terms and the CSR assembly.
#include <cstdint>
#include <vector>

#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/duality_gap.hpp"

namespace concise::cpu {

// One row's answer: its nonzero weights, in any atom order.
struct RowCode {
  std::vector<std::int32_t> atoms;
  std::vector<float> weights;
};

// The rows a solver still has to work on, and where their answers go.
struct RowProblem {
  MatrixView<const float> z;          // all rows of the chunk (n x d)
  MatrixView<const float> b;          // B = Z C^T (n x c); see correlates_in_blocks()
  std::vector<std::int64_t> rows;     // rows with a nonzero optimum
  std::vector<RowCode>* codes;        // n, empty on entry
  SolveResult* result;                // gap, objective, iterations per row
};

class CpuSolverBase : public Decomposer {
 public:
  void solve(MatrixView<const float> z, SolveResult& result) final;

 protected:
  CpuSolverBase(MatrixView<const float> atoms, const SolveOptions& options);
  virtual void solve_rows(RowProblem& problem) = 0;
  // True: solve_rows gets every row and B unfilled, and computes B's rows itself
  // (correlate) and certifies the rows whose optimum is w = 0 (solve_needed): the
  // whole call is then one parallel loop, with no barrier between the first pass
  // and the solves, which on a busy machine cost more than the work.
  virtual bool correlates_in_blocks() const { return false; }
  // B's rows [first, first + count) = z's rows C^T (single-threaded inside a parallel loop).
  void correlate(RowProblem& p, std::int64_t first, std::int64_t count);
  // False, with w = 0 certified and recorded, when w = 0 is the row's optimum.
  bool solve_needed(RowProblem& p, std::int64_t row, float max_correlation) const;

  void record(RowProblem& p, std::int64_t row, const Certificate& cert, std::int32_t iterations) const;
  // record() for an iterative solver (FISTA, ADMM): a row that used every iteration
  // without converging is marked as stopped on the limit.
  void record_iterative(RowProblem& p, std::int64_t row, const Certificate& cert, std::int32_t iterations) const;
  // Stores the positive entries of a dense row over the given atoms (atom_ids[k], or k when null).
  static void store_dense(RowProblem& p, std::int64_t row, const float* w, std::int64_t count,
                          const std::int64_t* atom_ids = nullptr);

  MatrixView<const float> atoms_;
  std::vector<float> atom_norms_;

 private:
  // Reused between calls, so that chunk after chunk solves without page faults.
  std::vector<float> b_;
  std::vector<RowCode> codes_;
  std::vector<float> row_max_;
};

// ||r||^2 and <r, z> in double.
GapTerms residual_terms(const float* z, const float* r, std::int64_t d);
float max_of(const float* x, std::int64_t n);
// max_k g_k for the certificate: the float GEMM finds the candidates, float64 dot
// products (atoms x r) settle the atoms within rounding distance of the maximum.
double certified_max(const float* g, std::int64_t count, const float* r, const float* atoms, std::int64_t d);
// The same with the residual in float64, for solvers that have it: at small lambda
// max_k g_k is small and the float32 rounding of r would move the certificate.
double certified_max(const float* g, std::int64_t count, const double* r, const float* atoms, std::int64_t d);
// The same with the candidates' margin given: every atom with g_k >= max g - margin
// is re-checked in float64 (margin: at least twice the largest error of any g_k).
double certified_max(const float* g, std::int64_t count, const double* r, const float* atoms, std::int64_t d,
                     float margin);
// r = z - W C for the given rows of W (rows x c) and atoms C (c x d).
void residuals(const float* z, const float* w, const float* atoms, float* r, std::int64_t rows, std::int64_t c,
               std::int64_t d);

}  // namespace concise::cpu
