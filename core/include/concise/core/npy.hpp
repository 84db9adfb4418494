#pragma once
// NumPy .npy files: little-endian float16/32/64, C order, version 1 to 3 headers.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise {

struct NpyInfo {
  std::string path;
  int item_size = 4;                 // 2, 4 or 8 bytes (float16, float32, float64)
  std::vector<std::int64_t> shape;
  std::uint64_t data_offset = 0;     // bytes before the first value
};

// Parses and validates the header; checks the file holds all the data it announces.
NpyInfo inspect_npy(const std::string& path);

// Reads rows [first, first + count) as float32: a 1-D array is one row; an N-D array has
// shape[0] rows of the product of the other dimensions.
void read_npy_rows(const NpyInfo& info, std::int64_t first, std::int64_t count, float* out);

Matrix<float> read_npy_matrix(const std::string& path);
std::vector<float> read_npy_vector(const std::string& path);

void write_npy(const std::string& path, const float* data, const std::vector<std::int64_t>& shape);

float half_to_float(std::uint16_t half);

// "(7, 512)" or "(512,)", as numpy prints a shape.
std::string shape_text(const std::vector<std::int64_t>& shape);

}  // namespace concise
