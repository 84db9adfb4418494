#include "concise/core/sparse.hpp"

#include <algorithm>
#include <utility>

namespace concise {

void SparseRows::append_dense_row(const float* w, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) {
    if (w[k] > 0.0f) {
      indices.push_back(static_cast<std::int32_t>(k));
      data.push_back(w[k]);
    }
  }
  indptr.push_back(static_cast<std::int64_t>(data.size()));
}

void SparseRows::append_row(const std::int32_t* columns, const float* weights, std::size_t count) {
  std::vector<std::pair<std::int32_t, float>> entries;
  entries.reserve(count);
  for (std::size_t k = 0; k < count; ++k)
    if (weights[k] > 0.0f) entries.emplace_back(columns[k], weights[k]);
  std::sort(entries.begin(), entries.end());
  for (const auto& [column, weight] : entries) {
    indices.push_back(column);
    data.push_back(weight);
  }
  indptr.push_back(static_cast<std::int64_t>(data.size()));
}

}  // namespace concise
