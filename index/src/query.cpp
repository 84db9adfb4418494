#include "concise/index/query.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "concise/core/error.hpp"
#include "concise/core/names.hpp"
#include "concise/engine/decompose_rows.hpp"
#include "concise/engine/resources.hpp"

namespace concise {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

SparseQuery parse_concept_query(const std::string& text, const std::vector<std::string>& concepts) {
  std::vector<std::pair<std::int32_t, float>> pairs;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const auto colon = item.rfind(':');
    std::string name = trim(item.substr(0, colon));
    float weight = 1.0f;
    if (colon != std::string::npos) {
      const std::string value = trim(item.substr(colon + 1));
      try {
        std::size_t used = 0;
        weight = std::stof(value, &used);
        if (used != value.size()) throw std::invalid_argument(value);
      } catch (const std::exception&) {
        throw InputError("query item " + in_quotes(item) + ": weight " + in_quotes(value) +
                         " is not a number, expected NAME:WEIGHT");
      }
    }
    const auto found = std::find(concepts.begin(), concepts.end(), name);
    if (found == concepts.end()) {
      std::string suggestions;
      for (const auto& s : nearest_names(name, concepts)) suggestions += (suggestions.empty() ? "" : ", ") + in_quotes(s);
      throw InputError("concept " + in_quotes(name) + " is not in the index's dictionary" +
                       (suggestions.empty() ? "" : "; did you mean " + suggestions + "?"));
    }
    if (!(weight > 0) || !std::isfinite(weight))
      throw InputError("query weight of " + in_quotes(name) + " is " + std::to_string(weight) + ", expected a positive number");
    pairs.emplace_back(static_cast<std::int32_t>(found - concepts.begin()), weight);
  }
  if (pairs.empty()) throw InputError("query " + in_quotes(text) + " names no concepts, expected \"NAME:WEIGHT,...\"");
  return SparseQuery::from_pairs(std::move(pairs));
}

std::vector<SparseQuery> queries_from_embeddings(const Dictionary& dict, MatrixView<const float> embeddings,
                                                 const SolveOptions& options, const std::string& device) {
  if (embeddings.cols != dict.dim())
    throw InputError("query embeddings have " + std::to_string(embeddings.cols) + " dimensions, the dictionary " +
                     std::to_string(dict.dim()));
  auto decomposer = Resources(device).make_decomposer(dict.atoms.view(), options);
  SolveResult result;
  CodeStats stats;
  const RowsInput input{embeddings, true, [](std::int64_t r) { return "query row " + std::to_string(r); }};
  decompose_rows(*decomposer, dict, input, result, stats);
  std::vector<SparseQuery> queries;
  const SparseRows& codes = result.codes;
  for (std::int64_t r = 0; r < codes.rows(); ++r) {
    SparseQuery q;
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p) {
      q.concepts.push_back(codes.indices[static_cast<std::size_t>(p)]);
      q.weights.push_back(codes.data[static_cast<std::size_t>(p)]);
    }
    queries.push_back(std::move(q));
  }
  return queries;
}

}  // namespace concise
