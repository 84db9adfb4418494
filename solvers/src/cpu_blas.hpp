#pragma once
// Thin, typed wrappers over CBLAS/LAPACK (OpenBLAS) for row-major float matrices.
#include <cstdint>

namespace concise::cpu {

// C (m x n) = alpha * A (m x k) * B (n x k)^T + beta * C
void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              float beta);
// C (m x n) = alpha * A (m x k) * B (k x n) + beta * C
void gemm_ab(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
             float beta);
// C (n x n) = A A^T for A (n x k), both triangles filled
void gram_aat(const float* a, float* c, std::int64_t n, std::int64_t k);
// C (n x n) = A^T A for A (m x n)
void gram_ata(const float* a, float* c, std::int64_t m, std::int64_t n);

// Cholesky factor of a symmetric positive definite n x n matrix, in place.
void cholesky(float* a, std::int64_t n);
// Solves A X = B for nrhs right-hand sides stored as rows of b (nrhs x n), given cholesky(a).
void cholesky_solve_rows(const float* factor, float* b, std::int64_t n, std::int64_t nrhs);

}  // namespace concise::cpu
