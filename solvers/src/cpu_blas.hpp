#pragma once
// Thin, typed wrappers over CBLAS/LAPACK (OpenBLAS) for row-major float matrices.
#include <cstdint>

// Hot loops the compiler vectorizes for the CPU they run on: GCC builds one copy per
// instruction set and picks one when the program loads (the same one every run on a
// given CPU, so results repeat bit for bit there; the rounding bounds of rules.hpp
// hold for every copy).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONCISE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CONCISE_VECTOR_CLONES
#endif

namespace concise::cpu {

// C (m x n) = alpha * A (m x k) * B (n x k)^T + beta * C
void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              float beta);
// C (m x n) = alpha * A (m x k) * B (k x n) + beta * C
void gemm_ab(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
             float beta);
// y (m) = A (m x n) x
void gemv_ax(const float* a, const float* x, float* y, std::int64_t m, std::int64_t n);
// C (n x n) = A A^T for A (n x k), both triangles filled
void gram_aat(const float* a, float* c, std::int64_t n, std::int64_t k);
// C (n x n) = A^T A for A (m x n)
void gram_ata(const float* a, float* c, std::int64_t m, std::int64_t n);

// Cholesky factor of a symmetric positive definite n x n matrix, in place.
void cholesky(float* a, std::int64_t n);
// Solves A X = B for nrhs right-hand sides stored as rows of b (nrhs x n), given cholesky(a).
void cholesky_solve_rows(const float* factor, float* b, std::int64_t n, std::int64_t nrhs);

// Float64 kernels of the active-set solver, on row-major lower-triangular factors
// with leading dimension ld (single-threaded inside the solver's parallel loops).
// Cholesky of the n x n block in place (lower triangle); returns 0, or the 1-based
// order of the first leading minor that is not positive definite.
int cholesky_lower(double* a, std::int64_t n, std::int64_t ld);
// X (m x n) := X L^-T for lower-triangular L (n x n).
void solve_right_lower_transposed(const double* l, double* x, std::int64_t m, std::int64_t n, std::int64_t ld);
// C (m x m, lower) -= A A^T for A (m x n).
void subtract_aat_lower(const double* a, double* c, std::int64_t m, std::int64_t n, std::int64_t ld);
// x := L^-1 x, then (transposed) x := L^-T x.
void solve_lower(const double* l, double* x, std::int64_t n, std::int64_t ld);
void solve_lower_transposed(const double* l, double* x, std::int64_t n, std::int64_t ld);

}  // namespace concise::cpu
