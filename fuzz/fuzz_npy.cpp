// The .npy reader: header parsing, shape and size checks, float16/32/64 rows.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "concise/core/embedding_source.hpp"
#include "concise/core/npy.hpp"
#include "expect_errors.hpp"
#include "temp_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = concise::fuzz::scratch().write("input.npy", data, size);
  concise::fuzz::expect_errors([&] {
    auto source = concise::open_embeddings(path);
    const std::int64_t chunk = 7;
    std::vector<float> rows(static_cast<std::size_t>(chunk * source->dim()));
    for (std::int64_t first = 0; first < source->rows(); first += chunk)
      source->read(first, std::min(chunk, source->rows() - first), rows.data());
  });
  concise::fuzz::expect_errors([&] { concise::read_npy_matrix(path); });
  concise::fuzz::expect_errors([&] { concise::read_npy_vector(path); });
  return 0;
}
