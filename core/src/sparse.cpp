#include "concise/core/sparse.hpp"

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

}  // namespace concise
