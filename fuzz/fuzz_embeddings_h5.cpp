// The HDF5 embedding reader (rows and /names) and the resumable embedding writer's
// reading of an interrupted run's .partial file.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "concise/core/embedding_source.hpp"
#include "expect_errors.hpp"
#include "h5_builder.hpp"
#include "temp_file.hpp"

using namespace concise::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const hsize_t rows = input.ConsumeIntegralInRange<hsize_t>(1, 9);
  const hsize_t dim = input.ConsumeIntegralInRange<hsize_t>(1, 9);
  const std::int64_t rows_done = input.ConsumeIntegralInRange<std::int64_t>(-2, 10);
  scratch().clear();
  const std::string path = scratch().file("embeddings.h5");
  build_h5(path, input,
           {{"/embeddings", Kind::F32, {rows, dim}}, {"/names", Kind::VarString, {rows}}},
           {{"run_key", std::string("key")}, {"rows_done", rows_done}, {"inputs_done", rows_done}});
  expect_errors([&] {
    auto source = concise::open_embeddings(path);
    const std::int64_t chunk = 4;
    std::vector<float> buffer(static_cast<std::size_t>(chunk * std::min<std::int64_t>(source->dim(), 1 << 16)));
    for (std::int64_t first = 0; first < std::min<std::int64_t>(source->rows(), 64); first += chunk)
      source->read(first, std::min(chunk, source->rows() - first), buffer.data());
    source->row_names();
  });
  expect_errors([&] {
    const std::string out = scratch().file("resumed.h5");
    std::filesystem::rename(path, out + ".partial");
    auto writer = concise::EmbeddingWriter::resume(out, "key");
    if (!writer) return;
    const std::int64_t left = static_cast<std::int64_t>(rows) - writer->rows_written();
    // Room for any width the builder writes (the file's, not the one asked for).
    std::vector<float> zeros(static_cast<std::size_t>(std::max<std::int64_t>(left, 0) * 16));
    std::vector<std::string> names(static_cast<std::size_t>(std::max<std::int64_t>(left, 0)), "row");
    writer->append(zeros.data(), left, names, writer->inputs_done());
    writer->finish();
  });
  return 0;
}
