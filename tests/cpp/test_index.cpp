// The sparse index: exact top-k equal to brute force (ties by row included), the
// file round trip, and the errors for bad queries.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "concise/core/error.hpp"
#include "concise/index/index_file.hpp"
#include "concise/index/query.hpp"

namespace concise {
namespace {

// Codes with few distinct weights, so that many rows tie exactly.
SparseRows random_codes(std::int64_t rows, std::int64_t concepts, int l0, std::uint32_t seed, bool skewed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(1, 4);
  std::uniform_int_distribution<std::int64_t> uniform(0, concepts - 1);
  std::exponential_distribution<double> popular(8.0);
  SparseRows codes;
  codes.clear(concepts);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<std::int32_t> cols;
    std::vector<float> weights;
    const int n = 1 + static_cast<int>(rng() % static_cast<unsigned>(2 * l0));
    for (int i = 0; i < n; ++i) {
      const auto col = skewed ? std::min<std::int64_t>(concepts - 1, static_cast<std::int64_t>(popular(rng) * static_cast<double>(concepts)))
                              : uniform(rng);
      if (std::find(cols.begin(), cols.end(), col) != cols.end()) continue;
      cols.push_back(static_cast<std::int32_t>(col));
      weights.push_back(0.125f * static_cast<float>(level(rng)));
    }
    codes.append_row(cols.data(), weights.data(), cols.size());
  }
  return codes;
}

SparseQuery random_query(std::int64_t concepts, std::mt19937& rng) {
  std::vector<std::pair<std::int32_t, float>> pairs;
  const int n = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    const auto col = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(concepts));
    bool seen = false;
    for (const auto& p : pairs) seen = seen || p.first == col;
    if (!seen) pairs.emplace_back(col, rng() % 2 ? 1.0f : 0.25f * static_cast<float>(1 + rng() % 8));
  }
  return SparseQuery::from_pairs(pairs);
}

class IndexExactness : public ::testing::TestWithParam<bool> {};

TEST_P(IndexExactness, SearchEqualsBruteForceIncludingTies) {
  const bool skewed = GetParam();
  const SparseIndex index = SparseIndex::build(random_codes(20000, 300, 6, 7, skewed), {}, "fp");
  std::mt19937 rng(11);
  std::int64_t ties = 0, pruned = 0;
  SearchScratch scratch;
  for (int i = 0; i < 400; ++i) {
    const SparseQuery q = i % 5 == 0 ? index.row_query(static_cast<std::int64_t>(rng() % 20000)) : random_query(300, rng);
    const std::int64_t k = std::vector<std::int64_t>{1, 3, 10, 100, 5000}[static_cast<std::size_t>(i) % 5];
    const auto expected = index.brute_force(q, k);
    const auto got = index.search(q, k, scratch);
    ASSERT_EQ(got, expected) << "query " << i << " k " << k;
    pruned += scratch.stopped_early;
    for (std::size_t j = 1; j < got.size(); ++j) ties += got[j].score == got[j - 1].score;
  }
  EXPECT_GT(ties, 1000) << "the test must exercise tie-breaking by row";
  EXPECT_GT(pruned, 40) << "the test must exercise early stopping";
}

INSTANTIATE_TEST_SUITE_P(UniformAndSkewed, IndexExactness, ::testing::Values(false, true));

TEST(Index, SearchManyEqualsOneByOne) {
  const SparseIndex index = SparseIndex::build(random_codes(5000, 100, 5, 3, true), {}, "fp");
  std::mt19937 rng(5);
  std::vector<SparseQuery> queries;
  for (int i = 0; i < 64; ++i) queries.push_back(random_query(100, rng));
  const auto many = index.search_many(queries, 10, 2);
  for (std::size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(many[i], index.brute_force(queries[i], 10));
}

TEST(Index, PostingsAreByWeightWithBlockMaxima) {
  const SparseIndex index = SparseIndex::build(random_codes(3000, 50, 5, 9, false), {}, "fp");
  const auto& ptr = index.posting_ptr();
  for (std::int64_t c = 0; c < index.concepts(); ++c) {
    for (auto p = ptr[static_cast<std::size_t>(c)] + 1; p < ptr[static_cast<std::size_t>(c) + 1]; ++p) {
      const auto a = static_cast<std::size_t>(p - 1), b = static_cast<std::size_t>(p);
      const bool ordered = index.posting_weights()[a] > index.posting_weights()[b] ||
                           (index.posting_weights()[a] == index.posting_weights()[b] &&
                            index.posting_rows()[a] < index.posting_rows()[b]);
      ASSERT_TRUE(ordered) << "concept " << c << " posting " << p;
    }
    const auto first_block = static_cast<std::size_t>(index.block_ptr()[static_cast<std::size_t>(c)]);
    if (ptr[static_cast<std::size_t>(c) + 1] > ptr[static_cast<std::size_t>(c)]) {
      EXPECT_EQ(index.block_max()[first_block], index.posting_weights()[static_cast<std::size_t>(ptr[static_cast<std::size_t>(c)])]);
    }
  }
}

TEST(Index, FileRoundTripKeepsResults) {
  std::vector<std::string> concepts;
  for (int c = 0; c < 40; ++c) concepts.push_back("concept " + std::to_string(c));
  std::vector<std::string> names;
  for (int r = 0; r < 500; ++r) names.push_back("img" + std::to_string(r) + ".jpg");
  const SparseIndex built = SparseIndex::build(random_codes(500, 40, 4, 2, false), concepts, "abc123", names);
  const auto path = (std::filesystem::temp_directory_path() / "concise_test_index.h5").string();
  save_index(built, path, "test");
  const SparseIndex loaded = load_index(path);
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.dictionary_fingerprint(), "abc123");
  EXPECT_EQ(loaded.row_names(), names);
  EXPECT_EQ(loaded.concept_names(), concepts);
  const SparseQuery q = parse_concept_query("concept 3:1, concept 7:0.5", concepts);
  EXPECT_EQ(loaded.search(q, 20), built.brute_force(q, 20));
}

TEST(Index, BadQueriesAreInputErrors) {
  std::vector<std::string> concepts{"cat", "kitten", "dog"};
  const SparseIndex index = SparseIndex::build(random_codes(100, 3, 2, 1, false), concepts, "fp");
  EXPECT_THROW(index.search(SparseQuery::from_pairs({{0, 1.0f}}), 0), InputError);
  try {
    parse_concept_query("cat:1,kiten:0.5", concepts);
    FAIL() << "an unknown concept must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'kiten'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean 'kitten'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_concept_query("cat:-1", concepts), InputError);
  EXPECT_THROW(parse_concept_query("cat:x", concepts), InputError);
  EXPECT_THROW(parse_concept_query("cat,cat", concepts), InputError);
  EXPECT_THROW(index.row_query(100), InputError);
  SparseRows unsorted;
  unsorted.cols = 3;
  unsorted.indptr = {0, 2};
  unsorted.indices = {2, 1};
  unsorted.data = {0.5f, 0.25f};
  EXPECT_THROW(SparseIndex::build(unsorted, {}, "fp"), InputError);
}

}  // namespace
}  // namespace concise
