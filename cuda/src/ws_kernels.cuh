#pragma once
// Kernels of the GPU working-set solver: per row, a small set S of atoms (at most
// kMaxSet) with its weights w_S and correlations b_S = C_S z; the set grows by the
// atoms that violate optimality most, and the lasso restricted to S is solved by
// coordinate descent on its Gram block (gathered from the full c x c Gram matrix).
#include <cuda_runtime.h>

#include <cstdint>

namespace concise::cuda::ws {

constexpr int kMaxSet = 96;

// One block per row. Drops atoms whose weight is 0 from S, then adds up to `growth`
// atoms k not in S with the largest g_k above near * l1/2 (g = C r for the current
// w; rows with no g_k above l1/2 add none). b_k = g_k + (G w_S)_k for each new atom.
// added[row] = atoms added. g is overwritten where it was read.
void extend_sets(float* g, const float* gram, std::int64_t rows, std::int64_t c, float half_l1, float near,
                 int growth, int* set, float* set_b, float* set_w, int* set_size, int* added, cudaStream_t stream);

// One block per row: coordinate descent on min w^T G_S w - 2 b_S^T w + l1 sum(w),
// w >= 0, warm-started from set_w, until no weight moves by more than tol[row] in a
// sweep (or max_sweeps).
void solve_sets(const float* gram, std::int64_t rows, std::int64_t c, float l1, const int* set, const float* set_b,
                float* set_w, const int* set_size, const float* tol, int max_sweeps, cudaStream_t stream);

// w (rows x c) = 0 except w[row][set[row][j]] = set_w[row][j].
void scatter_sets(const int* set, const float* set_w, const int* set_size, float* w, std::int64_t rows, std::int64_t c,
                  cudaStream_t stream);

}  // namespace concise::cuda::ws
