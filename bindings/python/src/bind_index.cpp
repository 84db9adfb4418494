// The sparse index for Python: build, load, save and exact top-k search.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "concise/core/error.hpp"
#include "concise/index/index_file.hpp"
#include "concise/index/query.hpp"

namespace concise::python {

namespace {

using IndexArray = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using ColumnArray = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using WeightArray = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

SparseRows csr_from_arrays(IndexArray indptr, ColumnArray indices, WeightArray data, std::int64_t cols) {
  SparseRows codes;
  codes.cols = cols;
  codes.indptr.assign(indptr.data(), indptr.data() + indptr.shape(0));
  codes.indices.assign(indices.data(), indices.data() + indices.shape(0));
  codes.data.assign(data.data(), data.data() + data.shape(0));
  const auto nnz = static_cast<std::int64_t>(codes.indices.size());
  if (codes.indptr.empty() || codes.indptr.front() != 0 || codes.indptr.back() != nnz ||
      codes.data.size() != codes.indices.size())
    throw InputError("codes are not a valid CSR matrix: indptr must run from 0 to nnz = " + std::to_string(nnz));
  for (std::size_t r = 1; r < codes.indptr.size(); ++r)
    if (codes.indptr[r] < codes.indptr[r - 1])
      throw InputError("codes are not a valid CSR matrix: indptr decreases at row " + std::to_string(r - 1));
  return codes;
}

// Rows of CSR codes as queries (columns sorted, zeros dropped).
std::vector<SparseQuery> queries_from_csr(const SparseRows& codes) {
  std::vector<SparseQuery> queries(static_cast<std::size_t>(codes.rows()));
  for (std::int64_t r = 0; r < codes.rows(); ++r) {
    std::vector<std::pair<std::int32_t, float>> pairs;
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p)
      if (codes.data[static_cast<std::size_t>(p)] != 0)
        pairs.emplace_back(codes.indices[static_cast<std::size_t>(p)], codes.data[static_cast<std::size_t>(p)]);
    queries[static_cast<std::size_t>(r)] = SparseQuery::from_pairs(std::move(pairs));
  }
  return queries;
}

// Results as arrays [n, k]: rows (-1 where a query has fewer than k hits) and scores.
nb::tuple hits_to_arrays(const std::vector<std::vector<SearchHit>>& results, std::int64_t k) {
  const auto n = results.size(), kk = static_cast<std::size_t>(k);
  std::vector<std::int64_t> rows(n * kk, -1);
  std::vector<double> scores(n * kk, 0.0);
  for (std::size_t q = 0; q < n; ++q)
    for (std::size_t i = 0; i < results[q].size(); ++i) {
      rows[q * kk + i] = results[q][i].row;
      scores[q * kk + i] = results[q][i].score;
    }
  return nb::make_tuple(to_numpy(std::move(rows), {n, kk}), to_numpy(std::move(scores), {n, kk}));
}

template <class Run>
nb::tuple run_csr(const SparseIndex& index, IndexArray indptr, ColumnArray indices, WeightArray data, std::int64_t k,
                  Run run) {
  check_top_k(k);
  const SparseRows codes = csr_from_arrays(indptr, indices, data, index.concepts());
  std::vector<std::vector<SearchHit>> results;
  {
    nb::gil_scoped_release released;
    results = run(queries_from_csr(codes));
  }
  return hits_to_arrays(results, k);
}

}  // namespace

void bind_index(nb::module_& m) {
  nb::class_<SparseIndex>(m, "SparseIndex", "Posting lists per concept over sparse codes; exact top-k search.")
      .def_static("load", &load_index, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>())
      .def_static("from_codes_file", &build_index_from_codes, nb::arg("codes"), nb::call_guard<nb::gil_scoped_release>())
      .def_static(
          "from_csr",
          [](IndexArray indptr, ColumnArray indices, WeightArray data, std::int64_t cols,
             std::vector<std::string> concepts, std::string fingerprint, std::vector<std::string> names) {
            SparseRows codes = csr_from_arrays(indptr, indices, data, cols);
            nb::gil_scoped_release released;
            return SparseIndex::build(std::move(codes), std::move(concepts), std::move(fingerprint), std::move(names));
          },
          nb::arg("indptr"), nb::arg("indices"), nb::arg("data"), nb::arg("concepts_count"), nb::arg("concepts"),
          nb::arg("fingerprint"), nb::arg("names"))
      .def("save", [](const SparseIndex& index, const std::string& path) { save_index(index, path); }, nb::arg("path"),
           nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("rows", &SparseIndex::rows)
      .def_prop_ro("concepts_count", &SparseIndex::concepts)
      .def_prop_ro("nnz", &SparseIndex::nnz)
      .def_prop_ro("concepts", &SparseIndex::concept_names)
      .def_prop_ro("names", &SparseIndex::row_names)
      .def_prop_ro("fingerprint", &SparseIndex::dictionary_fingerprint)
      .def_prop_ro("memory_bytes", &SparseIndex::memory_bytes)
      .def(
          "search_csr",
          [](const SparseIndex& index, IndexArray indptr, ColumnArray indices, WeightArray data, std::int64_t k,
             int threads) {
            return run_csr(index, indptr, indices, data, k,
                           [&](const std::vector<SparseQuery>& q) { return index.search_many(q, k, threads); });
          },
          nb::arg("indptr"), nb::arg("indices"), nb::arg("data"), nb::arg("k"), nb::arg("threads") = 0,
          "Top k of each CSR query row: (rows int64 [n, k], -1 padded; scores float64 [n, k]).")
      .def(
          "brute_force_csr",
          [](const SparseIndex& index, IndexArray indptr, ColumnArray indices, WeightArray data, std::int64_t k) {
            return run_csr(index, indptr, indices, data, k, [&](const std::vector<SparseQuery>& queries) {
              std::vector<std::vector<SearchHit>> out;
              for (const auto& q : queries) out.push_back(index.brute_force(q, k));
              return out;
            });
          },
          nb::arg("indptr"), nb::arg("indices"), nb::arg("data"), nb::arg("k"),
          "The reference: every row scored.")
      .def(
          "parse_concepts",
          [](const SparseIndex& index, const std::string& text) {
            SparseQuery q = parse_concept_query(text, index.concept_names());
            return nb::make_tuple(to_numpy(std::move(q.concepts)), to_numpy(std::move(q.weights)));
          },
          nb::arg("text"), "\"cat:1,kitten:0.5\" -> (concept indices int32, weights float32)")
      .def(
          "row_code",
          [](const SparseIndex& index, std::int64_t row) {
            SparseQuery q = index.row_query(row);
            return nb::make_tuple(to_numpy(std::move(q.concepts)), to_numpy(std::move(q.weights)));
          },
          nb::arg("row"))
      .def(
          "check_dictionary",
          [](const SparseIndex& index, const Dictionary& dict, const std::string& index_name,
             const std::string& dictionary_name) { check_same_dictionary(index, index_name, dict, dictionary_name); },
          nb::arg("dictionary"), nb::arg("index_name") = "(in memory)", nb::arg("dictionary_name") = "(in memory)");
}

}  // namespace concise::python
