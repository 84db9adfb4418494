#pragma once
// Concept vocabularies given as word lists (SpLiCE's laion.txt, mscoco.txt, ...).
#include <cstdint>
#include <string>
#include <vector>

namespace concise::vocab {

// One concept per line, sorted from least to most frequent, as SpLiCE ships them:
// the top K are the LAST K lines. top = 0 takes every line. Blank lines are ignored,
// surrounding whitespace trimmed, repeated concepts kept once (the first time read).
// A K larger than the file is an InputError.
std::vector<std::string> read_top_words(const std::string& path, std::int64_t top = 0);

}  // namespace concise::vocab
