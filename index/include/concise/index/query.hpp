#pragma once
// Queries for the sparse index: concept names with weights, or dense embeddings
// decomposed over the index's dictionary.
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/matrix.hpp"
#include "concise/index/sparse_index.hpp"
#include "concise/solvers/options.hpp"

namespace concise {

// "cat:1,kitten:0.5" (a name alone weighs 1). Unknown names are an InputError that
// suggests the closest concept names.
SparseQuery parse_concept_query(const std::string& text, const std::vector<std::string>& concepts);

// Raw CLIP embeddings (rows x d) decomposed over dict (SpLiCE's preprocessing), one query each.
std::vector<SparseQuery> queries_from_embeddings(const Dictionary& dict, MatrixView<const float> embeddings,
                                                 const SolveOptions& options, const std::string& device = "cpu");

}  // namespace concise
