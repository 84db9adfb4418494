#pragma once
// Row- and column-compactable state of an iterative batched solver (FISTA, ADMM):
// rows leave when they converge, atoms leave when gap-safe screening has
// removed them from every remaining row, so the GEMMs shrink as the batch converges.
#include <cstdint>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise::cpu {

class BatchState {
 public:
  // rows: the chunk rows being solved; atoms: the full dictionary; planes: how many
  // rows x atoms arrays (W, Y, ...) the solver keeps.
  BatchState(const std::vector<std::int64_t>& rows, MatrixView<const float> atoms, int planes);

  std::int64_t rows() const { return static_cast<std::int64_t>(row_ids_.size()); }
  std::int64_t atoms() const { return static_cast<std::int64_t>(atom_ids_.size()); }
  std::int64_t row_id(std::int64_t i) const { return row_ids_[static_cast<std::size_t>(i)]; }
  std::int64_t atom_id(std::int64_t k) const { return atom_ids_[static_cast<std::size_t>(k)]; }
  const std::int64_t* atom_ids() const { return atom_ids_.data(); }
  const float* dictionary() const { return dictionary_; }  // atoms() x d
  float* plane(int p) { return planes_[static_cast<std::size_t>(p)].data(); }
  float* plane_row(int p, std::int64_t i) { return plane(p) + i * atoms(); }
  std::uint8_t* screened_row(std::int64_t i) { return screened_.data() + i * atoms(); }
  std::vector<double>& row_scalars() { return scalars_; }  // one per row, compacted with the rows

  // Drops the rows whose flag is set.
  void drop_rows(const std::vector<std::uint8_t>& leaving);
  // Drops atoms screened out of every row when that frees enough columns; true if it did.
  bool compact_atoms();

 private:
  MatrixView<const float> full_;
  std::int64_t d_;
  std::vector<std::int64_t> row_ids_;
  std::vector<std::int64_t> atom_ids_;
  std::vector<std::vector<float>> planes_;
  std::vector<std::uint8_t> screened_;
  std::vector<double> scalars_;
  std::vector<float> owned_dictionary_;
  const float* dictionary_;
};

}  // namespace concise::cpu
