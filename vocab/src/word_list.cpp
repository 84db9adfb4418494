#include "concise/vocab/word_list.hpp"

#include <fstream>
#include <unordered_set>

#include "concise/core/error.hpp"

namespace concise::vocab {
namespace {

std::string trimmed(const std::string& line) {
  const auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

std::vector<std::string> read_top_words(const std::string& path, std::int64_t top) {
  std::ifstream in(path);
  if (!in) throw InputError("vocabulary file " + in_quotes(path) + " cannot be opened");
  if (top < 0) throw InputError("--top must be 0 (all) or positive, not " + std::to_string(top));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (std::string word = trimmed(line); !word.empty()) lines.push_back(std::move(word));
  if (lines.empty()) throw InputError("vocabulary file " + in_quotes(path) + " has no concepts");
  if (top > static_cast<std::int64_t>(lines.size()))
    throw InputError("vocabulary file " + in_quotes(path) + " has " + std::to_string(lines.size()) +
                     " concepts, fewer than the " + std::to_string(top) + " asked for");
  const std::size_t first = top == 0 ? 0 : lines.size() - static_cast<std::size_t>(top);
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  for (std::size_t i = first; i < lines.size(); ++i)
    if (seen.insert(lines[i]).second) words.push_back(lines[i]);
  return words;
}

}  // namespace concise::vocab
