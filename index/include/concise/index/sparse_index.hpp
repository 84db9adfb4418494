#pragma once
// An inverted index over sparse concept codes (STAIR's argument: grounded sparse codes
// make an inverted index possible) and exact top-k search by sparse inner product.
//
// Layout in memory and on disk (index_file.hpp): per concept a posting list of
// (row, weight), rows ordered by weight, largest first (ties by row), in CSC arrays;
// the maximum weight of every block of kBlockSize postings; and the codes themselves
// in CSR (the forward index) for exact rescoring and for "rows like row r".
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/sparse.hpp"

namespace concise {

// A query: concepts in increasing order, each once, with positive weights.
struct SparseQuery {
  std::vector<std::int32_t> concepts;
  std::vector<float> weights;

  std::size_t size() const { return concepts.size(); }
  // From (concept, weight) pairs in any order; duplicate concepts, weights <= 0 or
  // non-finite weights are an InputError.
  static SparseQuery from_pairs(std::vector<std::pair<std::int32_t, float>> pairs);
};

struct SearchHit {
  std::int64_t row = 0;
  double score = 0;  // exact: sum over concepts in increasing order of double(q) * double(w)
  bool operator==(const SearchHit& o) const { return row == o.row && score == o.score; }
};

// Per-thread working memory of a search (an accumulator per row, reset after use).
class SearchScratch {
 public:
  std::vector<double> acc;
  std::vector<std::int32_t> touched;
  std::vector<double> kth;  // scratch for selecting the k-th accumulator
  // What the last search did: postings read, and whether pruning stopped it early.
  std::int64_t postings_read = 0;
  bool stopped_early = false;
};

class SparseIndex {
 public:
  static constexpr std::int64_t kBlockSize = 64;

  // Builds the posting lists from codes (rows x concepts, CSR with positive weights).
  static SparseIndex build(SparseRows codes, std::vector<std::string> concepts, std::string dictionary_fingerprint,
                           std::vector<std::string> row_names = {});

  std::int64_t rows() const { return forward_.rows(); }
  std::int64_t concepts() const { return forward_.cols; }
  std::int64_t nnz() const { return forward_.nnz(); }
  const std::vector<std::string>& concept_names() const { return concept_names_; }
  const std::vector<std::string>& row_names() const { return row_names_; }
  const std::string& dictionary_fingerprint() const { return fingerprint_; }
  const SparseRows& forward() const { return forward_; }
  const std::vector<std::int64_t>& posting_ptr() const { return posting_ptr_; }
  const std::vector<std::int32_t>& posting_rows() const { return posting_rows_; }
  const std::vector<float>& posting_weights() const { return posting_weights_; }
  const std::vector<std::int64_t>& block_ptr() const { return block_ptr_; }
  const std::vector<float>& block_max() const { return block_max_; }
  // Bytes of the arrays a search reads (postings, block maxima, forward index).
  std::int64_t memory_bytes() const;

  // The top k rows by q . w_row among rows with a positive score, highest first, ties
  // by lower row: exactly what scoring every row would give. Pruned score-at-a-time:
  // blocks are taken in order of their bound q_t * block max, and the search stops once
  // no row outside the best k can still reach the k-th best partial score.
  std::vector<SearchHit> search(const SparseQuery& query, std::int64_t k, SearchScratch& scratch) const;
  std::vector<SearchHit> search(const SparseQuery& query, std::int64_t k) const;
  // Many queries over `threads` OpenMP threads (0: all).
  std::vector<std::vector<SearchHit>> search_many(const std::vector<SparseQuery>& queries, std::int64_t k,
                                                  int threads = 0) const;
  // The reference: scores every row.
  std::vector<SearchHit> brute_force(const SparseQuery& query, std::int64_t k) const;

  // Row r's code as a query (search "rows like r").
  SparseQuery row_query(std::int64_t row) const;
  double exact_score(std::int64_t row, const SparseQuery& query) const;
  // Checks a query against this index: concepts in range.
  void check_query(const SparseQuery& query) const;

  // For index_file.cpp: an index from stored arrays (validated).
  static SparseIndex from_parts(SparseRows forward, std::vector<std::int64_t> posting_ptr,
                                std::vector<std::int32_t> posting_rows, std::vector<float> posting_weights,
                                std::vector<std::int64_t> block_ptr, std::vector<float> block_max,
                                std::vector<std::string> concepts, std::string fingerprint,
                                std::vector<std::string> row_names, const std::string& source);

 private:
  SparseRows forward_;
  std::vector<std::int64_t> posting_ptr_;   // concepts + 1
  std::vector<std::int32_t> posting_rows_;  // nnz
  std::vector<float> posting_weights_;      // nnz, descending within a concept
  std::vector<std::int64_t> block_ptr_;     // concepts + 1: first block of each concept
  std::vector<float> block_max_;            // one per block of kBlockSize postings
  std::vector<std::string> concept_names_;
  std::vector<std::string> row_names_;
  std::string fingerprint_;
};

// k must be at least 1: an InputError otherwise.
void check_top_k(std::int64_t k);

}  // namespace concise
