#pragma once
// Rows already in memory as an EmbeddingSource, so the learner treats an array
// (the Python module's fit) like a file.
#include <algorithm>
#include <string>

#include "concise/core/embedding_source.hpp"
#include "concise/core/matrix.hpp"

namespace concise::learn {

class MatrixSource final : public EmbeddingSource {
 public:
  explicit MatrixSource(MatrixView<const float> rows, std::string what = "input") : rows_(rows), what_(std::move(what)) {}
  std::int64_t rows() const override { return rows_.rows; }
  std::int64_t dim() const override { return rows_.cols; }
  void read(std::int64_t first, std::int64_t count, float* out) const override {
    std::copy_n(rows_.row(first), count * rows_.cols, out);
  }
  std::string describe() const override { return what_; }
  std::string describe_row(std::int64_t row) const override { return what_ + " row " + std::to_string(row); }

 private:
  MatrixView<const float> rows_;
  std::string what_;
};

}  // namespace concise::learn
