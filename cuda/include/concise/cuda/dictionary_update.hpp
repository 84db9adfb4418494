#pragma once
// The dictionary update of online dictionary learning on a GPU: the sufficient
// statistics A = sum w w^T and B = sum w z^T of the learned atoms accumulated by
// cuBLAS GEMMs over the densified codes, and block-coordinate sweeps over the
// learned atoms as GEMMs plus one small kernel per block of atoms. Plain C++: the
// engine includes it without CUDA and reaches the GPU twin through the CUDA plugin.
//
// The per-atom rule both backends apply (the CPU reference in learn/ and the
// kernel) lives here as host-and-device functions.
#include <cmath>
#include <cstdint>
#include <memory>

#include "concise/core/matrix.hpp"
#include "concise/core/sparse.hpp"
#include "concise/solvers/host_device.hpp"

namespace concise::cuda {

// Atoms are updated in blocks of this many: inside a block one after another on
// the block's own copy of R = B - A D, then R of the later atoms by one GEMM.
inline constexpr std::int64_t kAtomBlock = 32;

// An atom whose curvature A_jj is this small has (almost) no rows using it: it is
// left as it is (and re-initialised at the end of the epoch when unused).
CONCISE_HOST_DEVICE inline bool atom_is_used(float a_jj) { return a_jj > 1e-12f; }

// The exact minimizer over the unit sphere of the objective in atom j with the
// others fixed is normalize(A_jj d_j + R_j) where R_j = B_j - sum_i A_ji d_i.
// u_i = A_jj d_ji + R_ji; returns the scale 1/||u|| that makes it unit norm, or 0
// when u vanishes (the atom then stays).
CONCISE_HOST_DEVICE inline float unit_scale(double u_norm_squared) {
  return u_norm_squared > 1e-30 ? static_cast<float>(1.0 / std::sqrt(u_norm_squared)) : 0.0f;
}

// A GPU twin of learn's CPU atom updater. Statistics cover the learned atoms only:
// A is learned x (fixed + learned), B is learned x dim (row j for learned atom j).
class DictionaryUpdater {
 public:
  virtual ~DictionaryUpdater() = default;
  // A = beta A + W_L^T W and B = beta B + W_L^T Z for the codes W of the rows z
  // (codes over all atoms, fixed first; W_L their learned columns).
  virtual void accumulate(const SparseRows& codes, MatrixView<const float> z, float beta) = 0;
  // `sweeps` block-coordinate sweeps over the learned atoms (rows [fixed, fixed + learned)
  // of atoms, updated in place; the fixed rows are read only). Returns the largest
  // change of an atom entry in the last sweep.
  virtual float update(MatrixView<float> atoms, int sweeps) = 0;
  // Forgets learned atom j's statistics (it was re-initialised).
  virtual void reset_atom(std::int64_t j) = 0;
  virtual void read_statistics(Matrix<float>& a, Matrix<float>& b) const = 0;
  virtual void write_statistics(const Matrix<float>& a, const Matrix<float>& b) = 0;
};

// The updater on GPU `device`; statistics start at zero.
std::unique_ptr<DictionaryUpdater> make_dictionary_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                                           int device);

}  // namespace concise::cuda
