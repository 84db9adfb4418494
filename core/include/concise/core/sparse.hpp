#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace concise {

// Rows of sparse codes in CSR form (the layout written to /codes).
struct SparseRows {
  std::int64_t cols = 0;
  std::vector<std::int64_t> indptr{0};
  std::vector<std::int32_t> indices;
  std::vector<float> data;

  std::int64_t rows() const { return static_cast<std::int64_t>(indptr.size()) - 1; }
  std::int64_t nnz() const { return static_cast<std::int64_t>(data.size()); }
  void clear(std::int64_t n_cols) {
    cols = n_cols;
    indptr.assign(1, 0);
    indices.clear();
    data.clear();
  }
  // Appends the positive entries of a dense row.
  void append_dense_row(const float* w, std::int64_t n);
  // Appends the positive entries of a row given as (column, weight) pairs in any
  // column order; the stored row is sorted by column.
  void append_row(const std::int32_t* columns, const float* weights, std::size_t count);
};

}  // namespace concise
