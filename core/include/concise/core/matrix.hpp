#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace concise {

// A non-owning, row-major, contiguous view of a rows x cols matrix.
template <class T>
struct MatrixView {
  T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  T* row(std::int64_t i) const { return data + i * cols; }
  std::size_t size() const { return static_cast<std::size_t>(rows * cols); }
  template <class U = T, class = std::enable_if_t<!std::is_const_v<U>>>
  operator MatrixView<const U>() const {
    return {data, rows, cols};
  }
};

// An owning, row-major matrix.
template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols, T fill = T{})
      : values_(static_cast<std::size_t>(rows * cols), fill), rows_(rows), cols_(cols) {}

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  T* data() { return values_.data(); }
  const T* data() const { return values_.data(); }
  T* row(std::int64_t i) { return values_.data() + i * cols_; }
  const T* row(std::int64_t i) const { return values_.data() + i * cols_; }
  std::vector<T>& values() { return values_; }
  const std::vector<T>& values() const { return values_; }

  MatrixView<T> view() { return {values_.data(), rows_, cols_}; }
  MatrixView<const T> view() const { return {values_.data(), rows_, cols_}; }

 private:
  std::vector<T> values_;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
};

}  // namespace concise
