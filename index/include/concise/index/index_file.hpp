#pragma once
// The index on disk (HDF5), readable without concise:
//
//   /postings          group: encoding-type "csc_matrix", encoding-version "0.1.0",
//                      shape [N, c], order "weight-descending" (scipy.sparse.csc_matrix
//                      takes the three arrays as they are; rows within a column are
//                      ordered by weight, largest first, ties by row)
//   /postings/indptr   int64   [c + 1]
//   /postings/indices  int32   [nnz]   the row of each posting
//   /postings/data     float32 [nnz]   its weight
//   /blocks/ptr        int64   [c + 1] the first block of each concept in /blocks/max
//   /blocks/max        float32 [nblocks] the largest weight of each run of block_size postings
//   /codes             the codes, CSR, as in a codes file (forward index)
//   /concepts          UTF-8 strings [c]
//   /names             UTF-8 strings [N] (when the codes file has them)
//   attributes: format = "concise-sparse-index", version, block_size, n_rows, n_concepts,
//               dictionary_fingerprint (queries made with another dictionary are refused), source
#include <string>

#include "concise/core/dictionary.hpp"
#include "concise/index/sparse_index.hpp"

namespace concise {

// Builds the index of a complete codes file.
SparseIndex build_index_from_codes(const std::string& codes_path);

// Writes path.partial, renamed to path when complete.
void save_index(const SparseIndex& index, const std::string& path, const std::string& source = "");
SparseIndex load_index(const std::string& path);

// InputError unless the dictionary is the one the index's codes were made with.
void check_same_dictionary(const SparseIndex& index, const std::string& index_path, const Dictionary& dict,
                           const std::string& dictionary_path);

}  // namespace concise
