#include "cpu_blas.hpp"

#include <cblas.h>

#include <cstddef>
#include <string>

#include "concise/core/error.hpp"

extern "C" {
// LAPACK (gfortran calling convention: trailing hidden lengths of character arguments).
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, std::size_t uplo_len);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len);
void spotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* lda, float* b, const int* ldb,
             int* info, std::size_t uplo_len);
}

namespace concise::cpu {

void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              float beta) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(k), b, static_cast<int>(k), beta, c, static_cast<int>(n));
}

void gemv_ax(const float* a, const float* x, float* y, std::int64_t m, std::int64_t n) {
  if (m == 0) return;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), 1.0f, a, static_cast<int>(n), x, 1,
              0.0f, y, 1);
}

void gram_aat(const float* a, float* c, std::int64_t n, std::int64_t k) {
  if (n == 0) return;
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(k), 0.0f, c, static_cast<int>(n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) c[i * n + j] = c[j * n + i];
}

void gemm_ab(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
             float beta) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, c,
              static_cast<int>(n));
}

void gram_ata(const float* a, float* c, std::int64_t m, std::int64_t n) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n), static_cast<int>(m),
              1.0f, a, static_cast<int>(n), a, static_cast<int>(n), 0.0f, c, static_cast<int>(n));
}

// Row-major symmetric A is its own column-major transpose, so the 'U' factor of
// LAPACK's column-major view serves the row-major caller unchanged.
void cholesky(float* a, std::int64_t n) {
  const int size = static_cast<int>(n);
  int info = 0;
  spotrf_("U", &size, a, &size, &info, 1);
  if (info != 0) throw Error("Cholesky factorization failed (LAPACK spotrf info " + std::to_string(info) + ")");
}

void cholesky_solve_rows(const float* factor, float* b, std::int64_t n, std::int64_t nrhs) {
  if (nrhs == 0) return;
  const int size = static_cast<int>(n), count = static_cast<int>(nrhs);
  int info = 0;
  spotrs_("U", &size, &count, factor, &size, b, &size, &info, 1);
  if (info != 0) throw Error("Cholesky solve failed (LAPACK spotrs info " + std::to_string(info) + ")");
}

int cholesky_lower(double* a, std::int64_t n, std::int64_t ld) {
  if (n == 0) return 0;
  // Row-major lower is column-major upper: LAPACK's 'U' factor is the caller's L.
  const int size = static_cast<int>(n), lda = static_cast<int>(ld);
  int info = 0;
  dpotrf_("U", &size, a, &lda, &info, 1);
  if (info < 0) throw Error("Cholesky factorization failed (LAPACK dpotrf info " + std::to_string(info) + ")");
  return info;
}

void solve_right_lower_transposed(const double* l, double* x, std::int64_t m, std::int64_t n, std::int64_t ld) {
  if (m == 0 || n == 0) return;
  cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, static_cast<int>(m), static_cast<int>(n),
              1.0, l, static_cast<int>(ld), x, static_cast<int>(ld));
}

void subtract_aat_lower(const double* a, double* c, std::int64_t m, std::int64_t n, std::int64_t ld) {
  if (m == 0 || n == 0) return;
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), -1.0, a,
              static_cast<int>(ld), 1.0, c, static_cast<int>(ld));
}

void solve_lower(const double* l, double* x, std::int64_t n, std::int64_t ld) {
  if (n == 0) return;
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, static_cast<int>(n), l, static_cast<int>(ld), x, 1);
}

void solve_lower_transposed(const double* l, double* x, std::int64_t n, std::int64_t ld) {
  if (n == 0) return;
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, static_cast<int>(n), l, static_cast<int>(ld), x, 1);
}

}  // namespace concise::cpu
