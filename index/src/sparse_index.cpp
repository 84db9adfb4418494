#include "concise/index/sparse_index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <omp.h>

#include "concise/core/error.hpp"

namespace concise {

namespace {

constexpr std::int64_t kFirstCheck = 2048;  // postings read before the first stopping test
constexpr double kSlack = 1e-9;             // relative margin for the order-dependent rounding of partial sums

bool better(const SearchHit& a, const SearchHit& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// The best k of hits (all with positive scores), in order.
std::vector<SearchHit> best_k(std::vector<SearchHit> hits, std::int64_t k) {
  const auto keep = std::min<std::size_t>(hits.size(), static_cast<std::size_t>(k));
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(), better);
  hits.resize(keep);
  return hits;
}

// A query concept's place in its posting list; it always stands at a block start.
struct Cursor {
  std::int64_t pos = 0, end = 0, begin = 0;
  std::int64_t first_block = 0;
  double weight = 0;  // the query's weight of this concept
};

// Every row's concepts strictly increasing and in range (exact scoring merges them).
void check_rows_sorted(const SparseRows& codes, const std::string& what) {
  for (std::int64_t r = 0; r < codes.rows(); ++r)
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p) {
      const auto col = codes.indices[static_cast<std::size_t>(p)];
      if (col < 0 || col >= codes.cols)
        throw InputError(what + ": row " + std::to_string(r) + " has concept " + std::to_string(col) + " outside 0.." +
                         std::to_string(codes.cols - 1));
      if (p > codes.indptr[static_cast<std::size_t>(r)] && codes.indices[static_cast<std::size_t>(p) - 1] >= col)
        throw InputError(what + ": row " + std::to_string(r) + " has its concepts out of order or repeated");
    }
}

}  // namespace

void check_top_k(std::int64_t k) {
  if (k < 1) throw InputError("k must be at least 1, not " + std::to_string(k));
}

SparseQuery SparseQuery::from_pairs(std::vector<std::pair<std::int32_t, float>> pairs) {
  std::sort(pairs.begin(), pairs.end());
  SparseQuery q;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto [concept_index, weight] = pairs[i];
    if (i > 0 && pairs[i - 1].first == concept_index)
      throw InputError("concept " + std::to_string(concept_index) + " appears twice in the query");
    if (!std::isfinite(weight) || weight <= 0)
      throw InputError("query weight of concept " + std::to_string(concept_index) + " is " + std::to_string(weight) +
                       ", expected a positive number");
    q.concepts.push_back(concept_index);
    q.weights.push_back(weight);
  }
  return q;
}

SparseIndex SparseIndex::build(SparseRows codes, std::vector<std::string> concepts, std::string dictionary_fingerprint,
                               std::vector<std::string> row_names) {
  if (codes.rows() > std::numeric_limits<std::int32_t>::max())
    throw InputError("the index holds at most 2^31 - 1 rows, the codes have " + std::to_string(codes.rows()));
  const std::int64_t c = codes.cols;
  check_rows_sorted(codes, "codes");
  SparseIndex index;
  index.posting_ptr_.assign(static_cast<std::size_t>(c + 1), 0);
  for (auto col : codes.indices) ++index.posting_ptr_[static_cast<std::size_t>(col) + 1];
  std::partial_sum(index.posting_ptr_.begin(), index.posting_ptr_.end(), index.posting_ptr_.begin());
  const auto nnz = static_cast<std::size_t>(codes.nnz());
  index.posting_rows_.resize(nnz);
  index.posting_weights_.resize(nnz);
  std::vector<std::int64_t> fill(index.posting_ptr_.begin(), index.posting_ptr_.end() - 1);
  for (std::int64_t r = 0; r < codes.rows(); ++r) {
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p) {
      const float w = codes.data[static_cast<std::size_t>(p)];
      if (!(w > 0) || !std::isfinite(w))
        throw InputError("codes row " + std::to_string(r) + " has weight " + std::to_string(w) + ", expected positive");
      const auto slot = static_cast<std::size_t>(fill[static_cast<std::size_t>(codes.indices[static_cast<std::size_t>(p)])]++);
      index.posting_rows_[slot] = static_cast<std::int32_t>(r);
      index.posting_weights_[slot] = w;
    }
  }
  // Rows entered in increasing order; a stable sort by weight keeps ties by row.
  index.block_ptr_.assign(static_cast<std::size_t>(c + 1), 0);
#pragma omp parallel
  {
    std::vector<std::pair<float, std::int32_t>> list;
#pragma omp for schedule(dynamic, 64)
    for (std::int64_t col = 0; col < c; ++col) {
      const auto b = static_cast<std::size_t>(index.posting_ptr_[static_cast<std::size_t>(col)]);
      const auto e = static_cast<std::size_t>(index.posting_ptr_[static_cast<std::size_t>(col) + 1]);
      list.clear();
      for (auto p = b; p < e; ++p) list.emplace_back(index.posting_weights_[p], index.posting_rows_[p]);
      std::stable_sort(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
      for (auto p = b; p < e; ++p) {
        index.posting_weights_[p] = list[p - b].first;
        index.posting_rows_[p] = list[p - b].second;
      }
      index.block_ptr_[static_cast<std::size_t>(col) + 1] = static_cast<std::int64_t>((e - b + kBlockSize - 1) / kBlockSize);
    }
  }
  std::partial_sum(index.block_ptr_.begin(), index.block_ptr_.end(), index.block_ptr_.begin());
  index.block_max_.resize(static_cast<std::size_t>(index.block_ptr_.back()));
  for (std::int64_t col = 0; col < c; ++col) {
    const auto b = index.posting_ptr_[static_cast<std::size_t>(col)], e = index.posting_ptr_[static_cast<std::size_t>(col) + 1];
    auto block = static_cast<std::size_t>(index.block_ptr_[static_cast<std::size_t>(col)]);
    for (auto p = b; p < e; p += kBlockSize, ++block) {
      const auto stop = std::min(e, p + kBlockSize);
      index.block_max_[block] = *std::max_element(index.posting_weights_.begin() + p, index.posting_weights_.begin() + stop);
    }
  }
  if (!concepts.empty() && static_cast<std::int64_t>(concepts.size()) != c)
    throw InputError("codes have " + std::to_string(c) + " concepts but " + std::to_string(concepts.size()) + " names");
  if (!row_names.empty() && static_cast<std::int64_t>(row_names.size()) != codes.rows())
    throw InputError("codes have " + std::to_string(codes.rows()) + " rows but " + std::to_string(row_names.size()) + " row names");
  index.forward_ = std::move(codes);
  index.concept_names_ = std::move(concepts);
  index.row_names_ = std::move(row_names);
  index.fingerprint_ = std::move(dictionary_fingerprint);
  return index;
}

SparseIndex SparseIndex::from_parts(SparseRows forward, std::vector<std::int64_t> posting_ptr,
                                    std::vector<std::int32_t> posting_rows, std::vector<float> posting_weights,
                                    std::vector<std::int64_t> block_ptr, std::vector<float> block_max,
                                    std::vector<std::string> concepts, std::string fingerprint,
                                    std::vector<std::string> row_names, const std::string& source) {
  const std::int64_t c = forward.cols;
  const auto bad = [&](const std::string& what) { return InputError("index " + in_quotes(source) + ": " + what); };
  if (static_cast<std::int64_t>(posting_ptr.size()) != c + 1 || static_cast<std::int64_t>(block_ptr.size()) != c + 1)
    throw bad("/postings/indptr and /blocks/ptr need " + std::to_string(c + 1) + " entries");
  if (posting_rows.size() != posting_weights.size() || posting_ptr.back() != static_cast<std::int64_t>(posting_rows.size()) ||
      forward.nnz() != static_cast<std::int64_t>(posting_rows.size()))
    throw bad("postings and codes disagree on the number of nonzeros");
  if (block_ptr.back() != static_cast<std::int64_t>(block_max.size())) throw bad("/blocks/ptr does not match /blocks/max");
  for (std::int64_t col = 0; col < c; ++col) {
    const auto b = posting_ptr[static_cast<std::size_t>(col)], e = posting_ptr[static_cast<std::size_t>(col) + 1];
    if (e < b) throw bad("/postings/indptr decreases at concept " + std::to_string(col));
    if (block_ptr[static_cast<std::size_t>(col) + 1] - block_ptr[static_cast<std::size_t>(col)] != (e - b + kBlockSize - 1) / kBlockSize)
      throw bad("/blocks/ptr does not match block size " + std::to_string(kBlockSize) + " at concept " + std::to_string(col));
  }
  for (auto r : posting_rows)
    if (r < 0 || r >= forward.rows()) throw bad("a posting names row " + std::to_string(r) + " outside the codes");
  check_rows_sorted(forward, "index " + in_quotes(source) + ", /codes");
  SparseIndex index;
  index.forward_ = std::move(forward);
  index.posting_ptr_ = std::move(posting_ptr);
  index.posting_rows_ = std::move(posting_rows);
  index.posting_weights_ = std::move(posting_weights);
  index.block_ptr_ = std::move(block_ptr);
  index.block_max_ = std::move(block_max);
  index.concept_names_ = std::move(concepts);
  index.row_names_ = std::move(row_names);
  index.fingerprint_ = std::move(fingerprint);
  return index;
}

std::int64_t SparseIndex::memory_bytes() const {
  const auto bytes = [](const auto& v) { return static_cast<std::int64_t>(v.size() * sizeof(v[0])); };
  return bytes(forward_.indptr) + bytes(forward_.indices) + bytes(forward_.data) + bytes(posting_ptr_) +
         bytes(posting_rows_) + bytes(posting_weights_) + bytes(block_ptr_) + bytes(block_max_);
}

void SparseIndex::check_query(const SparseQuery& query) const {
  if (query.concepts.size() != query.weights.size()) throw InputError("query concepts and weights differ in length");
  for (std::size_t i = 0; i < query.size(); ++i) {
    const auto col = query.concepts[i];
    if (col < 0 || col >= concepts())
      throw InputError("query concept " + std::to_string(col) + " is outside the index's 0.." + std::to_string(concepts() - 1));
    if (i > 0 && query.concepts[i - 1] >= col) throw InputError("query concepts must be increasing and distinct");
    if (!(query.weights[i] > 0) || !std::isfinite(query.weights[i]))
      throw InputError("query weight of concept " + std::to_string(col) + " must be positive");
  }
}

double SparseIndex::exact_score(std::int64_t row, const SparseQuery& query) const {
  auto p = forward_.indptr[static_cast<std::size_t>(row)];
  const auto e = forward_.indptr[static_cast<std::size_t>(row) + 1];
  std::size_t t = 0;
  double score = 0;
  while (p < e && t < query.size()) {
    const auto col = forward_.indices[static_cast<std::size_t>(p)];
    if (col < query.concepts[t]) {
      ++p;
    } else if (col > query.concepts[t]) {
      ++t;
    } else {
      score += static_cast<double>(query.weights[t]) * static_cast<double>(forward_.data[static_cast<std::size_t>(p)]);
      ++p;
      ++t;
    }
  }
  return score;
}

SparseQuery SparseIndex::row_query(std::int64_t row) const {
  if (row < 0 || row >= rows())
    throw InputError("row " + std::to_string(row) + " is outside the index's 0.." + std::to_string(rows() - 1));
  SparseQuery q;
  for (auto p = forward_.indptr[static_cast<std::size_t>(row)]; p < forward_.indptr[static_cast<std::size_t>(row) + 1]; ++p) {
    q.concepts.push_back(forward_.indices[static_cast<std::size_t>(p)]);
    q.weights.push_back(forward_.data[static_cast<std::size_t>(p)]);
  }
  return q;
}

std::vector<SearchHit> SparseIndex::brute_force(const SparseQuery& query, std::int64_t k) const {
  check_top_k(k);
  check_query(query);
  std::vector<SearchHit> hits;
  for (std::int64_t r = 0; r < rows(); ++r) {
    const double s = exact_score(r, query);
    if (s > 0) hits.push_back({r, s});
  }
  return best_k(std::move(hits), k);
}

std::vector<SearchHit> SparseIndex::search(const SparseQuery& query, std::int64_t k) const {
  SearchScratch scratch;
  return search(query, k, scratch);
}

std::vector<SearchHit> SparseIndex::search(const SparseQuery& query, std::int64_t k, SearchScratch& scratch) const {
  check_top_k(k);
  check_query(query);
  if (scratch.acc.size() != static_cast<std::size_t>(rows())) scratch.acc.assign(static_cast<std::size_t>(rows()), 0.0);
  auto& acc = scratch.acc;
  auto& touched = scratch.touched;
  touched.clear();

  std::vector<Cursor> cursors;
  for (std::size_t t = 0; t < query.size(); ++t) {
    const auto col = static_cast<std::size_t>(query.concepts[t]);
    if (posting_ptr_[col] < posting_ptr_[col + 1])
      cursors.push_back({posting_ptr_[col], posting_ptr_[col + 1], posting_ptr_[col], block_ptr_[col],
                         static_cast<double>(query.weights[t])});
  }
  // The bound of a cursor's next block: its weight times the block's maximum.
  const auto bound = [&](const Cursor& cur) {
    if (cur.pos >= cur.end) return 0.0;
    const auto block = cur.first_block + (cur.pos - cur.begin) / kBlockSize;
    return cur.weight * static_cast<double>(block_max_[static_cast<std::size_t>(block)]);
  };
  const auto remaining = [&] {
    double r = 0;
    for (const auto& cur : cursors) r += bound(cur);
    return r;
  };
  // The k-th largest partial score among the rows touched so far (at least k of them).
  const auto kth_partial = [&] {
    auto& kth = scratch.kth;
    kth.clear();
    for (auto r : touched) kth.push_back(acc[static_cast<std::size_t>(r)]);
    std::nth_element(kth.begin(), kth.begin() + (k - 1), kth.end(), std::greater<>());
    return kth[static_cast<std::size_t>(k - 1)];
  };

  std::int64_t read = 0, next_check = kFirstCheck;
  double threshold = 0;  // the k-th best partial score when the search stopped early
  bool stopped = false;
  for (;;) {
    Cursor* next = nullptr;
    double best = 0;
    for (auto& cur : cursors) {
      const double b = bound(cur);
      if (b > best) best = b, next = &cur;
    }
    if (next == nullptr) break;
    const std::int64_t block_end = std::min(next->end, next->begin + ((next->pos - next->begin) / kBlockSize + 1) * kBlockSize);
    for (auto p = next->pos; p < block_end; ++p) {
      const auto r = static_cast<std::size_t>(posting_rows_[static_cast<std::size_t>(p)]);
      if (acc[r] == 0) touched.push_back(static_cast<std::int32_t>(r));
      acc[r] += next->weight * static_cast<double>(posting_weights_[static_cast<std::size_t>(p)]);
    }
    read += block_end - next->pos;
    next->pos = block_end;
    if (read < next_check || static_cast<std::int64_t>(touched.size()) < k) continue;
    next_check = 2 * read;
    const double lk = kth_partial();
    const double rest = remaining();
    if (rest < lk - kSlack * (lk + rest)) {
      threshold = lk - kSlack * (lk + rest) - rest;  // rows whose partial score is below this cannot reach the top k
      stopped = true;
      break;
    }
  }
  if (!stopped && static_cast<std::int64_t>(touched.size()) > k) {
    const double lk = kth_partial();
    threshold = lk - kSlack * lk;
  }
  scratch.postings_read = read;
  scratch.stopped_early = stopped;
  std::vector<SearchHit> hits;
  for (auto r : touched) {
    const auto i = static_cast<std::size_t>(r);
    if (acc[i] >= threshold) hits.push_back({r, 0.0});
    acc[i] = 0;
  }
  touched.clear();
  // A row can be touched twice when a product underflowed to 0.
  std::sort(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) { return a.row < b.row; });
  hits.erase(std::unique(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) { return a.row == b.row; }),
             hits.end());
  for (auto& h : hits) h.score = exact_score(h.row, query);
  hits.erase(std::remove_if(hits.begin(), hits.end(), [](const SearchHit& h) { return !(h.score > 0); }), hits.end());
  return best_k(std::move(hits), k);
}

std::vector<std::vector<SearchHit>> SparseIndex::search_many(const std::vector<SparseQuery>& queries, std::int64_t k,
                                                             int threads) const {
  check_top_k(k);
  for (const auto& q : queries) check_query(q);
  std::vector<std::vector<SearchHit>> results(queries.size());
  const int n = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel num_threads(n)
  {
    SearchScratch scratch;
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(queries.size()); ++i)
      results[static_cast<std::size_t>(i)] = search(queries[static_cast<std::size_t>(i)], k, scratch);
  }
  return results;
}

}  // namespace concise
