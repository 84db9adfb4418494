// The codes reader (CSR rows, stats, names, run settings) and the codes writer's
// resumption of an interrupted run's .partial file.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "concise/core/codes_file.hpp"
#include "expect_errors.hpp"
#include "h5_builder.hpp"
#include "temp_file.hpp"

using namespace concise::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  concise::CodesRunInfo info;
  info.rows = input.ConsumeIntegralInRange<std::int64_t>(1, 8);
  info.concepts = input.ConsumeIntegralInRange<std::int64_t>(1, 8);
  info.l1 = 0.25;
  info.tol = 1e-4;
  info.solver = "ws";
  info.dictionary_fingerprint = "0123456789abcdef";
  info.source = "input.npy";
  const std::int64_t nnz = input.ConsumeIntegralInRange<std::int64_t>(0, 16);
  const std::int64_t rows_done = input.ConsumeIntegralInRange<std::int64_t>(-1, 9);
  const std::int64_t first = input.ConsumeIntegralInRange<std::int64_t>(-1, 9);
  const std::int64_t count = input.ConsumeIntegralInRange<std::int64_t>(-1, 9);
  const auto rows = static_cast<hsize_t>(info.rows);
  scratch().clear();
  const std::string path = scratch().file("codes.h5");
  build_h5(path, input,
           {{"/codes/data", Kind::F32, {static_cast<hsize_t>(nnz)}},
            {"/codes/indices", Kind::I32, {static_cast<hsize_t>(nnz)}},
            {"/codes/indptr", Kind::I64, {rows + 1}},
            {"/stats/l0", Kind::I32, {rows}},
            {"/stats/cosine", Kind::F32, {rows}},
            {"/stats/gap", Kind::F32, {rows}},
            {"/stats/objective", Kind::F32, {rows}},
            {"/stats/iterations", Kind::I32, {rows}},
            {"/concepts", Kind::VarString, {static_cast<hsize_t>(info.concepts)}},
            {"/names", Kind::VarString, {rows}}},
           {{"l1", info.l1},
            {"tol", info.tol},
            {"solver", info.solver},
            {"dictionary_fingerprint", info.dictionary_fingerprint},
            {"source", info.source},
            {"n_rows", info.rows},
            {"n_concepts", info.concepts},
            {"rows_done", rows_done},
            {"complete", std::int64_t{0}}});
  expect_errors([&] {
    const auto codes = concise::CodesFile::load(path, first, count);
    for (std::int64_t r = 0; r < codes.codes.rows(); ++r)
      for (auto k = codes.codes.indptr[r]; k < codes.codes.indptr[r + 1]; ++k)
        if (codes.codes.indices.at(static_cast<std::size_t>(k)) >= codes.codes.cols && codes.codes.cols > 0)
          __builtin_trap();  // load() promised every index is in range
  });
  expect_errors([&] {
    const std::string out = scratch().file("resumed.h5");
    std::filesystem::rename(path, out + ".partial");
    std::vector<std::string> names(static_cast<std::size_t>(info.concepts), "concept");
    concise::CodesWriter writer(out, info, names);
    const std::int64_t left = info.rows - writer.rows_done();
    concise::SparseRows empty;
    empty.clear(info.concepts);
    for (std::int64_t r = 0; r < left; ++r) empty.indptr.push_back(0);
    concise::CodeStats stats;
    stats.resize(static_cast<std::size_t>(std::max<std::int64_t>(left, 0)));
    writer.append(empty, stats);
    writer.finish();
    concise::CodesFile::load(out);
  });
  return 0;
}
