#pragma once
// The safetensors layout, parsed without LibTorch: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the
// bytes. Every entry is checked against the file before any tensor is allocated.
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace concise::clip::detail {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // F32, F16, BF16 or F64
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // from the start of the file
  std::uint64_t bytes = 0;
};

// Reads and validates the header of the safetensors file `in` (of file_size bytes);
// path names the file in error messages.
std::vector<SafetensorsEntry> read_safetensors_header(std::istream& in, std::uint64_t file_size,
                                                      const std::string& path);

}  // namespace concise::clip::detail
