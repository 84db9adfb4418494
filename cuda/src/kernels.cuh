#pragma once
// Launchers of concise's custom kernels. Row-major matrices; one thread block per
// row for the per-row reductions (c and d are in the thousands, rows many).
#include <cuda_runtime.h>

#include <cstdint>

namespace concise::cuda::kernels {

// Per-row terms of the certified gap (docs/DESIGN.md §1), four doubles per row:
// ||r||^2, <r, z>, sum(w), max_k g_k (the near-maximal g_k settled in float64
// from the atoms and r, as the CPU does).
constexpr int kGapTerms = 4;

// One fused FISTA step per row: w' = max(0, y + gain g - shrink) (0 where screened),
// gradient restart test <y - w', w' - w> > 0, momentum y = w' + beta (w' - w), t update.
// w_next receives w'; the caller swaps w and w_next.
void fista_step(const float* g, const float* w, float* w_next, float* y, const std::uint8_t* screened, double* t,
                std::int64_t rows, std::int64_t c, float gain, float shrink, cudaStream_t stream);

// Per row, the gap's terms from w (kGapTerms: ||r||^2, <r, z>, sum w, the certified
// max_k <C_k, r>) with r = z - C^T w rebuilt in float64 from w's nonzeros; g = C r from
// the FP32 GEMM only picks the atoms whose products are recomputed for the maximum.
void gap_terms(const float* z, const float* w, const float* g, const float* atoms, std::int64_t rows, std::int64_t c,
               std::int64_t d, double* terms, cudaStream_t stream);

// Gap-safe screening: atom k leaves row i when s_i g_ik + radius_i ||C_k|| < lambda/2
// (scale_radius holds s_i and radius_i per row); its w and y are set to 0.
void screen(const float* g, const float* atom_norms, const double* scale_radius, double half_l1,
            std::uint8_t* screened, float* w, float* y, std::int64_t rows, std::int64_t c, cudaStream_t stream);

// a (n x n) += value I.
void add_to_diagonal(float* a, std::int64_t n, float value, cudaStream_t stream);

// ADMM (Woodbury form): the right-hand side q = 2 b + rho (w - u), and one
// over-relaxed update of w and u from x per row; residuals gets ||x - w'||^2 and
// ||w' - w||^2 per row (for residual balancing).
void admm_rhs(const float* b, const float* w, const float* u, float* q, std::int64_t rows, std::int64_t c, float rho,
              cudaStream_t stream);
void admm_step(const float* x, float* w, float* u, double* residuals, std::int64_t rows, std::int64_t c,
               float relaxation, float shrink, cudaStream_t stream);

// dst[i] = src[index[i]] for rows of `width` elements.
void gather_rows(const float* src, const int* index, float* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream);
void gather_rows(const std::uint8_t* src, const int* index, std::uint8_t* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream);
void gather_rows(const int* src, const int* index, int* dst, std::int64_t rows, std::int64_t width, cudaStream_t stream);
void gather_rows(const double* src, const int* index, double* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream);
// dst[index[i]] = src[i] for rows of `width` elements.
void scatter_rows(const float* src, const int* index, float* dst, std::int64_t rows, std::int64_t width,
                  cudaStream_t stream);

void fill(float* x, std::int64_t n, float value, cudaStream_t stream);
// x[i] *= value for n elements (64-bit counts: rows x concepts passes 2^31).
void scale(float* x, std::int64_t n, float value, cudaStream_t stream);
void fill(double* x, std::int64_t n, double value, cudaStream_t stream);

// CSR of the positive entries of w (rows x c): counts[i] = nnz of row i, then
// (after an exclusive scan into indptr) the column indices in order and the values.
void count_positive(const float* w, std::int64_t rows, std::int64_t c, std::int64_t* counts, cudaStream_t stream);
void fill_csr(const float* w, std::int64_t rows, std::int64_t c, const std::int64_t* indptr, std::int32_t* indices,
              float* data, cudaStream_t stream);

// Rows of x (rows x d): x = normalize(normalize(x) + mu); mu may be null.
void finish_recompose(float* x, const float* mu, std::int64_t rows, std::int64_t d, cudaStream_t stream);
// SpLiCE's preprocessing: out = normalize(normalize(x) - mu); mu may be null. bad[i] = 1
// for rows whose norm is 0 or not finite.
void preprocess_rows(const float* x, float* out, const float* mu, std::int64_t rows, std::int64_t d, int* bad,
                     cudaStream_t stream);
// cosine[i] = <unit_i, x_i> / ||x_i|| (unit rows already normalized).
void row_cosines(const float* unit, const float* x, float* cosine, std::int64_t rows, std::int64_t d,
                 cudaStream_t stream);

}  // namespace concise::cuda::kernels
