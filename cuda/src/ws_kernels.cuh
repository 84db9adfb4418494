#pragma once
// Kernels of the GPU working set. Per row: a set of at most `capacity` atoms (set),
// their weights (set_w) and correlations with z (set_b = C_S z), and the set's Gram
// block (capacity x capacity, row-major), grown from the atoms as they enter. The
// per-row decisions come from concise/cuda/ws_rules.hpp and concise/solvers/rules.hpp.
#include <cuda_runtime.h>

#include <cstdint>

namespace concise::cuda::ws {

// The rows' buffers at one capacity (all row-major, `rows` rows).
struct Sets {
  int* atoms;        // rows x capacity
  float* weights;    // rows x capacity
  float* b;          // rows x capacity
  float* gram;       // rows x capacity x capacity
  int* size;         // rows
  int capacity;
};

// Doubles per row of `terms` (set_residuals) and of `certificates` (certify_rows).
constexpr int kTermsPerRow = 4;

// r = z - C_S^T w_S per row, summed in float64 and stored in float32 for the GEMM;
// terms get ||r||^2, <r, z> and sum(w) from the float64 residual, and the support.
void set_residuals(const float* z, const float* atoms, Sets sets, std::int64_t rows, std::int64_t d, float* r,
                   double* terms, cudaStream_t stream);

// After a TF32 correlation GEMM: per row, every g_k at or above ws::refine_floor
// (below ws::candidates_above(l1[row], l0, first_pass); the bound from terms' ||r||^2
// and max_atom_norm) is recomputed from the atom and r in float64, one warp per atom.
void refine_correlations(float* g, const float* r, const float* atoms, const double* terms, std::int64_t rows,
                         std::int64_t c, std::int64_t d, const double* l1, int l0, bool first_pass,
                         double max_atom_norm, cudaStream_t stream);

// Per row, from g = C r: the certified max_k g_k (float64), the certificate at the
// row's lambda l1[row] (rules::certify, the maximum raised by ws::float_residual_slack)
// and whether it meets tol. certificates: objective, gap, max_k g_k and the support per row.
void certify_rows(const float* g, const float* r, const float* atoms, const double* terms, std::int64_t rows,
                  std::int64_t c, std::int64_t d, const double* l1, double tol, double max_atom_norm,
                  double* certificates, std::uint8_t* converged, cudaStream_t stream);

// Per row with act[row] != 0 (all rows when act is null): drops the atoms of weight 0
// (with their Gram rows and columns), then adds the best-ranked candidates
// (ws::candidates_above, ws::ranks_before; deterministic) as far as ws::atoms_to_add
// (l0 > 0: ws::target_atoms_to_add) allows in the row's own capacity
// (row_capacity[row] <= sets.capacity), weight 0. status[2 row] = atoms added,
// status[2 row + 1] = 1 when some atom outside the set violates (C r)_k <= l1[row]/2.
// g is overwritten.
void select_atoms(float* g, Sets sets, const int* row_capacity, std::int64_t rows, std::int64_t c, const double* l1,
                  int l0, bool first_pass, const std::uint8_t* act, int* status, cudaStream_t stream);

// For the atoms each row just added (status[2 row] of them, last in its set): their
// correlations b = <C_k, z> and their rows and columns of the Gram block.
void grow_gram(const float* atoms, const float* z, Sets sets, const int* status, std::int64_t rows, std::int64_t d,
               cudaStream_t stream);

// Target sparsity's walk inside the set (l0 > 0; l0 = 0: none): per row its
// max_k (C z)_k, its grid point, which solve_sets moves on, and the last point
// certified beyond K (rules::walk_goes_on).
struct GridWalk {
  const double* max_correlation;
  int* grid;
  const int* beyond;
  double ratio;
  int l0;
};

// One warp per row: coordinate descent on min w^T G_S w - 2 b_S^T w + l1 sum(w), w >= 0,
// at l1[row], warm-started, until ws::sweep_settled at tol[row] (or ws::max_sweeps).
// With a walk whose solution keeps at most l0 atoms, it goes on down the grid from
// each solution (rules::walk_goes_on) while the next point's keeps at most l0 atoms
// and fewer than the set holds (as the CPU fast path), and leaves the point it ends
// on in walk.grid.
void solve_sets(Sets sets, std::int64_t rows, const double* l1, const float* tol, GridWalk walk, cudaStream_t stream);

// The same rows at a larger capacity (to.capacity > from.capacity).
void restride(Sets from, Sets to, std::int64_t rows, cudaStream_t stream);

}  // namespace concise::cuda::ws
