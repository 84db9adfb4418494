#include "concise/vocab/caption_mining.hpp"

#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "concise/clip/text_cleaning.hpp"
#include "concise/core/error.hpp"

namespace concise::vocab {
namespace {

// NLTK's English stopwords.
const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> words = {
      "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll", "you'd",
      "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's", "her", "hers",
      "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which",
      "who", "whom", "this", "that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be", "been",
      "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if",
      "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between",
      "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out",
      "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why",
      "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
      "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "don't",
      "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn",
      "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't",
      "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't",
      "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't"};
  return words;
}

// Words of one caption, split into stretches at punctuation: letters and digits make
// words; apostrophes stay inside words; anything else but spaces ends a stretch.
std::vector<std::vector<std::string>> word_stretches(const std::string& cleaned) {
  const icu::UnicodeString text = icu::UnicodeString::fromUTF8(cleaned);
  std::vector<std::vector<std::string>> stretches(1);
  icu::UnicodeString word;
  const auto end_word = [&] {
    if (word.isEmpty()) return;
    std::string utf8;
    word.toUTF8String(utf8);
    stretches.back().push_back(std::move(utf8));
    word.remove();
  };
  for (std::int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (u_isalnum(c) || (c == u'\'' && !word.isEmpty())) {
      word.append(c);
    } else {
      end_word();
      if (!u_isUWhiteSpace(c) && !stretches.back().empty()) stretches.emplace_back();
    }
  }
  end_word();
  return stretches;
}

bool is_concept_word(const std::string& word) {
  if (word.size() < 2 || is_stopword(word)) return false;
  return !std::all_of(word.begin(), word.end(), [](char c) { return (c >= '0' && c <= '9') || c == '\''; });
}

std::vector<MinedConcept> top_by_count(const std::unordered_map<std::string, std::int64_t>& counts, std::int64_t top,
                                       std::int64_t min_count) {
  std::vector<MinedConcept> ranked;
  for (const auto& [text, count] : counts)
    if (count >= min_count) ranked.push_back({text, count});
  std::sort(ranked.begin(), ranked.end(), [](const MinedConcept& a, const MinedConcept& b) {
    return a.count != b.count ? a.count > b.count : a.text < b.text;
  });
  if (static_cast<std::int64_t>(ranked.size()) > top) ranked.resize(static_cast<std::size_t>(top));
  return ranked;
}

}  // namespace

bool is_stopword(const std::string& word) { return stopwords().count(word) != 0; }

std::vector<MinedConcept> mine_captions(const std::vector<std::string>& captions, const MiningSettings& settings) {
  if (settings.top_unigrams < 0 || settings.top_bigrams < 0 || settings.min_count < 1)
    throw InputError("mining needs --top and --bigrams of 0 or more and --min-count of 1 or more");
  std::unordered_map<std::string, std::int64_t> unigrams, bigrams;
  for (const auto& caption : captions) {
    std::unordered_set<std::string> seen_words, seen_pairs;
    for (const auto& stretch : word_stretches(clip::clean_text(caption))) {
      for (std::size_t i = 0; i < stretch.size(); ++i) {
        if (!is_concept_word(stretch[i])) continue;
        if (seen_words.insert(stretch[i]).second) ++unigrams[stretch[i]];
        if (i + 1 < stretch.size() && is_concept_word(stretch[i + 1])) {
          const std::string pair = stretch[i] + ' ' + stretch[i + 1];
          if (seen_pairs.insert(pair).second) ++bigrams[pair];
        }
      }
    }
  }
  std::vector<MinedConcept> concepts = top_by_count(unigrams, settings.top_unigrams, settings.min_count);
  for (auto& pair : top_by_count(bigrams, settings.top_bigrams, settings.min_count)) concepts.push_back(std::move(pair));
  return concepts;
}

std::vector<MinedConcept> mine_caption_file(const std::string& path, const MiningSettings& settings) {
  std::ifstream in(path);
  if (!in) throw InputError("captions file " + in_quotes(path) + " cannot be opened");
  std::vector<std::string> captions;
  std::int64_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    try {
      clip::clean_text(line);  // validates UTF-8 up front, so the error can name the line
    } catch (const InputError& e) {
      throw InputError("captions file " + in_quotes(path) + ", line " + std::to_string(line_number) + ": " + e.what());
    }
    captions.push_back(std::move(line));
  }
  if (captions.empty()) throw InputError("captions file " + in_quotes(path) + " has no captions");
  return mine_captions(captions, settings);
}

}  // namespace concise::vocab
