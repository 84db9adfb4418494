#pragma once
// SpLiCE's preprocessing, bit-for-bit in float32 (docs/DESIGN.md §1):
//   atoms       C_k = normalize(t_k - mean_k t_k),  t_k = normalize(text_k)
//   embeddings  z   = normalize(normalize(e) - mu)
//   recompose   e^  = normalize(normalize(C^T w) + mu)
// normalize(x) = x / max(||x||, 1e-12), as torch.nn.functional.normalize.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"
#include "concise/core/sparse.hpp"

namespace concise {

using RowNamer = std::function<std::string(std::int64_t row)>;

void normalize(float* x, std::int64_t n);
double dot(const float* a, const float* b, std::int64_t n);

// Checks every row (finite, nonzero) and centers it in place with mu (may be
// empty: no mean). Bad rows raise InputError naming the row through name_row.
void center_embeddings(MatrixView<float> rows, const std::vector<float>& mu, const RowNamer& name_row);

// Below this squared norm a centered atom counts as zero (its row equals the mean of
// the unit rows up to float32 rounding) and the dictionary is refused.
constexpr double kZeroAtomNormSquared = 1e-10;
// Below this squared norm a normalized embedding minus the image mean has no direction
// left and the row is refused (center_embeddings, and the GPU's row preprocessing).
constexpr double kMeanRowNormSquared = 1e-20;

// Normalizes raw text embeddings, subtracts their mean and normalizes again.
// Returns the mean of the normalized embeddings (the dictionary's text mean).
// A single row, or a row whose centered atom is zero, is an InputError.
std::vector<float> center_atoms(MatrixView<float> text_embeddings, const RowNamer& name_row);

// Checks atoms that are meant to be centered unit rows already (a stored dictionary,
// SpLiCE's concept matrices): finite, and none of them zero.
void check_atoms(MatrixView<const float> atoms, const RowNamer& name_row);

// e^ rows for the given codes: normalize(normalize(C^T w) + mu).
Matrix<float> recompose(const SparseRows& codes, MatrixView<const float> atoms, const std::vector<float>& mu);
// Row r of recompose into y (d floats).
void recompose_row(const SparseRows& codes, std::int64_t r, MatrixView<const float> atoms, const std::vector<float>& mu,
                   float* y);

}  // namespace concise
