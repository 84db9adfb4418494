#pragma once
#include <string>

namespace concise {

enum class SolverKind { Auto, Fista, Admm, WorkingSet };

std::string to_string(SolverKind kind);
// "auto", "fista", "admm" or "ws"; anything else is an InputError.
SolverKind parse_solver(const std::string& name);

// Options shared by every solver and backend: one objective, one stopping rule.
struct SolveOptions {
  double l1 = 0.25;            // lambda in ||z - C^T w||^2 + lambda * sum(w)
  double tol = 1e-4;           // stop a row when gap <= tol * F(w)
  int l0 = 0;                  // > 0: target sparsity, each row's lambda from the grid below (replaces l1)
  double l0_ratio = 0.9;       // rho of the grid lambda_j = lambda_max(row) * rho^j
  SolverKind solver = SolverKind::Auto;
  std::string device = "auto";  // auto, cpu, cuda or cuda:N (concise/engine/device.hpp)
  int max_iterations = 5000;   // FISTA and ADMM iterations per row
  int max_rounds = 40;         // working-set rounds (full correlation passes) per row and lambda
  int check_every = 10;        // FISTA/ADMM iterations between gap checks
  bool screening = true;       // gap-safe screening (FISTA, ADMM)
  int threads = 0;             // CPU threads for a solve; 0: OMP_NUM_THREADS if set, else all cores
  long long gpu_batch_rows = 0;  // rows the GPU solves at once; 0 picks from the dictionary size
  // GPU working set: each pass's correlation GEMM on TF32 tensor cores; the atoms within
  // its rounding bound of a decision are recomputed in float64 (rules::tf32_dot_error),
  // so the sets and the certificate are those of exact correlations.
  bool gpu_tf32 = false;
  // CPU working set: keep rows of the Gram matrix C C^T from row to row and call to call.
  // They pay when many rows are solved over one dictionary; a dictionary that changes every
  // mini-batch (dictionary learning) would rebuild them for every batch.
  bool keep_gram_rows = true;

  // Throws InputError for values outside their domain.
  void validate() const;
};

}  // namespace concise
