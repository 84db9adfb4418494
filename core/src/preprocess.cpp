#include "concise/core/preprocess.hpp"

#include <algorithm>
#include <cmath>

#include "concise/core/error.hpp"

namespace concise {

double dot(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

void normalize(float* x, std::int64_t n) {
  const float norm = static_cast<float>(std::sqrt(dot(x, x, n)));
  const float scale = 1.0f / std::max(norm, 1e-12f);
  for (std::int64_t i = 0; i < n; ++i) x[i] *= scale;
}

namespace {

void check_row(const float* x, std::int64_t n, std::int64_t row, const RowNamer& name_row) {
  bool zero = true;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i]))
      throw InputError(name_row(row) + ": contains NaN or Inf at column " + std::to_string(i) +
                       ", expected finite values");
    zero = zero && x[i] == 0.0f;
  }
  if (zero) throw InputError(name_row(row) + ": is all zeros, expected a nonzero embedding");
}

}  // namespace

void center_embeddings(MatrixView<float> rows, const std::vector<float>& mu, const RowNamer& name_row) {
  if (!mu.empty() && static_cast<std::int64_t>(mu.size()) != rows.cols)
    throw InputError("the image mean has dimension " + std::to_string(mu.size()) + ", expected " +
                     std::to_string(rows.cols));
  for (std::int64_t r = 0; r < rows.rows; ++r) {
    float* x = rows.row(r);
    check_row(x, rows.cols, r, name_row);
    normalize(x, rows.cols);
    if (!mu.empty()) {
      for (std::int64_t i = 0; i < rows.cols; ++i) x[i] -= mu[static_cast<std::size_t>(i)];
      if (dot(x, x, rows.cols) < kMeanRowNormSquared)
        throw InputError(name_row(r) + ": equals the image mean after normalization, so it has no direction to decompose");
      normalize(x, rows.cols);
    }
  }
}

void check_atoms(MatrixView<const float> atoms, const RowNamer& name_row) {
  for (std::int64_t r = 0; r < atoms.rows; ++r) {
    for (std::int64_t i = 0; i < atoms.cols; ++i)
      if (!std::isfinite(atoms.row(r)[i])) throw InputError(name_row(r) + ": contains NaN or Inf, expected finite values");
    if (dot(atoms.row(r), atoms.row(r), atoms.cols) < kZeroAtomNormSquared)
      throw InputError(name_row(r) + ": is a zero atom, expected centered unit rows (a 1-concept dictionary centers to zero)");
  }
}

std::vector<float> center_atoms(MatrixView<float> t, const RowNamer& name_row) {
  if (t.rows == 1)
    throw InputError("a dictionary needs at least 2 concepts, got 1: atoms are centered on the concepts' mean, "
                     "which leaves a single concept with nothing (docs/DESIGN.md §1)");
  std::vector<double> mean(static_cast<std::size_t>(t.cols), 0.0);
  for (std::int64_t r = 0; r < t.rows; ++r) {
    check_row(t.row(r), t.cols, r, name_row);
    normalize(t.row(r), t.cols);
    for (std::int64_t i = 0; i < t.cols; ++i) mean[static_cast<std::size_t>(i)] += t.row(r)[i];
  }
  std::vector<float> mu(mean.size());
  for (std::size_t i = 0; i < mean.size(); ++i) mu[i] = static_cast<float>(mean[i] / static_cast<double>(t.rows));
  for (std::int64_t r = 0; r < t.rows; ++r) {
    float* x = t.row(r);
    for (std::int64_t i = 0; i < t.cols; ++i) x[i] -= mu[static_cast<std::size_t>(i)];
    if (dot(x, x, t.cols) < kZeroAtomNormSquared)
      throw InputError(name_row(r) + ": equals the mean of all concepts after normalization, so its centered atom is "
                                     "zero; a dictionary needs concepts that differ from their mean");
    normalize(x, t.cols);
  }
  return mu;
}

void recompose_row(const SparseRows& codes, std::int64_t r, MatrixView<const float> atoms, const std::vector<float>& mu,
                   float* y) {
  const std::int64_t d = atoms.cols;
  std::fill(y, y + d, 0.0f);
  for (std::int64_t p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p) {
    const float w = codes.data[static_cast<std::size_t>(p)];
    const float* atom = atoms.row(codes.indices[static_cast<std::size_t>(p)]);
    for (std::int64_t i = 0; i < d; ++i) y[i] += w * atom[i];
  }
  normalize(y, d);
  if (!mu.empty())
    for (std::int64_t i = 0; i < d; ++i) y[i] += mu[static_cast<std::size_t>(i)];
  normalize(y, d);
}

Matrix<float> recompose(const SparseRows& codes, MatrixView<const float> atoms, const std::vector<float>& mu) {
  Matrix<float> out(codes.rows(), atoms.cols);
  for (std::int64_t r = 0; r < codes.rows(); ++r) recompose_row(codes, r, atoms, mu, out.row(r));
  return out;
}

}  // namespace concise
