#pragma once
// Mines a concept vocabulary from captions: the most frequent words and word pairs
// after CLIP's text cleaning, with English stopwords and numbers left out.
#include <cstdint>
#include <string>
#include <vector>

namespace concise::vocab {

struct MiningSettings {
  std::int64_t top_unigrams = 10000;
  std::int64_t top_bigrams = 0;
  std::int64_t min_count = 2;  // captions a word or pair must appear in
};

struct MinedConcept {
  std::string text;
  std::int64_t count = 0;  // captions it appears in
};

// Each caption counts a word or pair once. Pairs are adjacent words within a stretch
// of text without punctuation, neither a stopword. Ordered by count, then text;
// the unigrams come first, then the bigrams.
std::vector<MinedConcept> mine_captions(const std::vector<std::string>& captions, const MiningSettings& settings);

// The captions file: one caption per line (UTF-8). InputError naming the line on bad UTF-8.
std::vector<MinedConcept> mine_caption_file(const std::string& path, const MiningSettings& settings);

bool is_stopword(const std::string& word);

}  // namespace concise::vocab
