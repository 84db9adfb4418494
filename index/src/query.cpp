#include "concise/index/query.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "concise/core/error.hpp"
#include "concise/engine/decompose_rows.hpp"
#include "concise/engine/resources.hpp"

namespace concise {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& names,
                                       std::size_t count) {
  std::vector<std::pair<std::size_t, std::size_t>> scored;  // (distance, index)
  for (std::size_t i = 0; i < names.size(); ++i) scored.emplace_back(edit_distance(name, names[i]), i);
  const auto keep = std::min(count, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep), scored.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < keep; ++i) out.push_back(names[scored[i].second]);
  return out;
}

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
      for (const auto& s : closest_names(name, concepts)) suggestions += (suggestions.empty() ? "" : ", ") + in_quotes(s);
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
